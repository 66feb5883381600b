/**
 * Polling for tests: calls `f` every `pollMs` until it returns a value, which it resolves to;
 * rejects with "timed out waiting for <what>" after `ms`.
 *
 * @example
 * const p = await until('3 placements', async () => ((await list()).length === 3 ? true : undefined));
 */
export async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 5000, pollMs = 20): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
