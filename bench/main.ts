/**
 * `npm run bench [-- GROUP ...]`: runs benchmark groups, prints each figure beside its in-run
 * baseline, and writes bench-results.json (one record per named target).
 */
import { writeFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { Reporter, type BenchRecord } from './report.js';

export const GROUPS = ['packet', 'functions', 'host', 'control', 'sim', 'migration', 'dashboard', 'devices'] as const;

async function main(): Promise<void> {
  const asked = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  for (const g of asked) {
    if (!(GROUPS as readonly string[]).includes(g)) {
      console.error(`unknown bench group '${g}'; groups: ${GROUPS.join(', ')}`);
      process.exit(2);
    }
  }
  const groups = asked.length ? asked : [...GROUPS];
  const here = dirname(fileURLToPath(import.meta.url));
  const all: BenchRecord[] = [];
  for (const g of groups) {
    const file = join(here, `${g}.js`);
    if (!existsSync(file)) {
      console.log(`[${g}] no benchmarks yet`);
      continue;
    }
    const mod = (await import(file)) as { run: (r: Reporter) => Promise<void> };
    const r = new Reporter(g);
    await mod.run(r);
    all.push(...r.records);
  }
  writeFileSync('bench-results.json', JSON.stringify(all, null, 2) + '\n');
  console.log(`bench: ${all.length} figure(s) written to bench-results.json`);
}

await main();
