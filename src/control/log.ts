/**
 * Structured logs of the daemons (`swnet controller`, `swnet agent`, `swnet up`, the API server):
 * pino, one JSON object a line on stderr by default, or `pretty`: our own one-line format for a
 * terminal (no pino-pretty). Every record has `level` (pino's number), `time` (epoch ms),
 * `component` and `msg`; request records add `method`, `path`, `status`, `ms`, `user`.
 *
 * Parts below control/ (host/, functions/) never import this: they keep their
 * `log?: (line) => void` callbacks, and the daemons pass `lineLog(logger)`, so tests that pass
 * nothing stay quiet.
 *
 * @example
 * const logger = createLogger({ level: 'info', format: 'json' });
 * logger.info({ component: 'controller' }, 'started');
 * const agent = await ServerAgent.start({ store, server: 's1', log: lineLog(logger) });
 */
import pino from 'pino';
import type { Logger } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export class LogOptionError extends Error {
  override readonly name = 'LogOptionError';
}

/** Where lines go: anything with `write(string)` (default: stderr, synchronously). */
export interface LogSink {
  write(line: string): unknown;
}

export interface LoggerInit {
  readonly level?: LogLevel;
  readonly format?: LogFormat;
  readonly sink?: LogSink;
  /** Fields on every record (e.g. `{ server: 's1' }`). */
  readonly base?: Record<string, string | number>;
}

/**
 * Checks `--log-level` / `--log-format` values (commander passes strings).
 * @example
 * const { level, format } = parseLogOptions({ logLevel: 'debug', logFormat: 'pretty' });
 */
export function parseLogOptions(o: { readonly logLevel?: string; readonly logFormat?: string }): { level: LogLevel; format: LogFormat } {
  const level = o.logLevel ?? 'info';
  const format = o.logFormat ?? 'json';
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new LogOptionError(`--log-level takes ${LOG_LEVELS.join(', ')} (got '${level}')`);
  if (!(LOG_FORMATS as readonly string[]).includes(format)) throw new LogOptionError(`--log-format takes json or pretty (got '${format}')`);
  return { level: level as LogLevel, format: format as LogFormat };
}

/**
 * A pino logger writing JSON lines (or pretty lines) to `sink` (default stderr).
 * @example
 * createLogger({ format: 'pretty' }).warn({ component: 'agent', server: 's1' }, 'lease lost');
 * // 22:41:07.120 WARN  agent lease lost server=s1
 */
export function createLogger(init: LoggerInit = {}): Logger {
  const opts = { level: init.level ?? 'info', base: { pid: process.pid, ...init.base } };
  const sink = init.sink ?? pino.destination({ dest: 2, sync: true });
  if (init.format !== 'pretty') return pino(opts, sink);
  return pino(opts, { write: (json: string) => void sink.write(prettyLine(json)) });
}

const LEVEL_NAMES: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** Not repeated as key=value in pretty lines. */
const SHOWN = new Set(['level', 'time', 'pid', 'hostname', 'daemon', 'component', 'subject', 'msg']);

/**
 * One pino JSON record as a concise line: `HH:MM:SS.mmm LEVEL component[/subject] msg key=value…`.
 * A line that is not a JSON object is passed through.
 * @example
 * prettyLine('{"level":30,"time":0,"component":"api","msg":"GET /healthz 200","ms":1.2}\n');
 * // '00:00:00.000 INFO  api GET /healthz 200 ms=1.2\n'
 */
export function prettyLine(json: string): string {
  let rec: unknown;
  try {
    rec = JSON.parse(json);
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  if (rec === null || typeof rec !== 'object' || Array.isArray(rec)) return `${json.trimEnd()}\n`;
  const r = rec as Record<string, unknown>;
  const t = typeof r['time'] === 'number' ? new Date(r['time']).toISOString().slice(11, 23) : '--:--:--.---';
  const lvl = (LEVEL_NAMES[typeof r['level'] === 'number' ? r['level'] : 30] ?? String(r['level'])).padEnd(5);
  const parts = [t, lvl];
  if (typeof r['component'] === 'string') parts.push(typeof r['subject'] === 'string' ? `${r['component']}/${r['subject']}` : r['component']);
  if (r['msg'] !== undefined) parts.push(String(r['msg']));
  for (const [k, v] of Object.entries(r)) {
    if (SHOWN.has(k) || v === undefined) continue;
    const s = typeof v === 'string' ? v : JSON.stringify(v);
    parts.push(`${k}=${/[\s"=]/.test(s) ? JSON.stringify(s) : s}`);
  }
  return `${parts.join(' ')}\n`;
}

/** Messages of the line callbacks that report a failure (logged at `warn`). */
const FAILURE = /\b(error|failed|fails|cannot|can't|timed out|refused|rejected|lost)\b|Error:/i;

/**
 * The seam for code that logs through `log?: (line: string) => void` callbacks: each line becomes a
 * record, its `component` taken from a leading `name:` or `name word:` (e.g. `agent s1: …`,
 * `urbanizer: …`), at `warn` when it reports a failure, else `info`.
 * @example
 * const log = lineLog(logger);
 * log('agent s1: default/voip created (r1, r2)'); // {"component":"agent","subject":"s1","msg":"default/voip created (r1, r2)",...}
 */
export function lineLog(logger: Logger, component?: string): (line: string) => void {
  return (line: string): void => {
    const m = /^([a-z][\w-]*)(?: ([\w./~-]+))?: (.*)$/s.exec(line);
    const fields: Record<string, string> = {};
    let msg = line;
    if (m) {
      fields['component'] = m[1] as string;
      if (m[2] !== undefined) fields['subject'] = m[2];
      msg = m[3] as string;
    } else if (component !== undefined) fields['component'] = component;
    if (FAILURE.test(msg)) logger.warn(fields, msg);
    else logger.info(fields, msg);
  };
}
