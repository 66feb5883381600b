/**
 * `npm run bench [-- GROUP ...]`: runs benchmark groups, prints each figure beside its in-run
 * baseline, and writes bench-results.json (one record per named target).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
    const mod = (await import(file)) as { run: (r: Reporter) => Promise<void>; nodeFlags?: readonly string[] };
    // A group that needs Node flags this process lacks (they act at start-up only) runs in a
    // child started with them; its records come back through a file.
    const missing = (mod.nodeFlags ?? []).filter((f) => !process.execArgv.includes(f));
    if (missing.length > 0) {
      const dir = mkdtempSync(join(tmpdir(), 'swnet-bench-'));
      const out = join(dir, 'records.json');
      try {
        const c = spawnSync(process.execPath, [...process.execArgv, ...missing, fileURLToPath(import.meta.url), g], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, SWNET_BENCH_OUT: out } });
        if (c.status !== 0 || !existsSync(out)) throw new Error(`bench group ${g} (node ${missing.join(' ')}) exited with ${c.status ?? c.signal}`);
        all.push(...(JSON.parse(readFileSync(out, 'utf8')) as BenchRecord[]));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      continue;
    }
    const r = new Reporter(g);
    await mod.run(r);
    all.push(...r.records);
  }
  const out = process.env['SWNET_BENCH_OUT'];
  if (out) return writeFileSync(out, JSON.stringify(all));
  writeFileSync('bench-results.json', JSON.stringify(all, null, 2) + '\n');
  console.log(`bench: ${all.length} figure(s) written to bench-results.json`);
}

await main();
