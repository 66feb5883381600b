/**
 * `--log-level` and `--log-format` of the daemons (`swnet controller`, `swnet agent`, `swnet up`)
 * and the logger they build from them (src/control/log.ts: JSON lines on stderr by default).
 *
 * @example
 * logOptions(program.command('agent')).action((o) => { const logger = daemonLogger(o, { daemon: 'agent' }); });
 */
import type { Command } from 'commander';
import { LOG_LEVELS, createLogger, parseLogOptions, type Logger } from '../control/log.js';

/**
 * Adds the two options to a command; returns it for chaining. `interactive` (swnet up): without
 * `--log-format`, pretty on a terminal and json otherwise; daemons default to json.
 */
export function logOptions(cmd: Command, interactive = false): Command {
  const fmt = 'logs on stderr as json (one object a line) or pretty (one readable line each)';
  return cmd
    .option('--log-level <level>', `least severe log records written: ${LOG_LEVELS.join(', ')}`, 'info')
    .option('--log-format <format>', interactive ? `${fmt}; default: pretty on a terminal, else json` : fmt, interactive ? undefined : 'json');
}

/** The daemon's logger from its parsed options; throws LogOptionError on a bad value. */
export function daemonLogger(o: { readonly logLevel?: string; readonly logFormat?: string }, base: Record<string, string>): Logger {
  const { level, format } = parseLogOptions({ ...o, logFormat: o.logFormat ?? (process.stderr.isTTY ? 'pretty' : 'json') });
  return createLogger({ level, format, base });
}
