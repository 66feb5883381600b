/**
 * `npm run bench -- devices`: runs every bench/devices-*.ts module (the software-defined radio
 * in devices-radio.ts; the digital twins may add their own), each with the same Reporter.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Reporter } from './report.js';

export async function run(r: Reporter): Promise<void> {
  const here = dirname(fileURLToPath(import.meta.url));
  const parts = readdirSync(here).filter((f) => /^devices-.*\.js$/.test(f)).sort();
  for (const f of parts) {
    const mod = (await import(join(here, f))) as { run: (r: Reporter) => Promise<void> };
    await mod.run(r);
  }
}
