/**
 * Graceful shutdown of a long-running `swnet` command: the first SIGINT or SIGTERM runs `stop`
 * once (later signals are ignored while it runs), then prints "swnet <name>: stopped" and exits 0.
 *
 * @example
 * stopOnSignals('controller', async () => { await cp.stop(); await store.close(); });
 */
export function stopOnSignals(name: string, stop: () => Promise<void>, log: (line: string) => void = (l) => void process.stderr.write(`${l}\n`)): void {
  let stopping = false;
  const onSignal = (sig: string): void => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: shutting down`);
    void (async () => {
      await stop();
      process.stdout.write(`swnet ${name}: stopped\n`);
      process.exit(0);
    })();
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
}
