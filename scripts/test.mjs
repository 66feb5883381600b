// Runs every compiled test file (dist/**/*.test.js) with node's test runner.
// `node scripts/test.mjs packet host/ring` runs only files whose path contains one of the words.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = walk('dist/src', []).filter((f) => filters.length === 0 || filters.some((w) => f.includes(w))).sort();
if (files.length === 0) {
  console.error('no test files found under dist/src (did the build run?)');
  process.exit(1);
}
const reporter = process.env.CI ? 'spec' : 'spec';
const r = spawnSync(process.execPath, ['--test', `--test-reporter=${reporter}`, '--test-concurrency=2', '--test-timeout=300000', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
