// Layering and cycle check over src/: the table of DESIGN.md, enforced.
// Also rejects `any` in TypeScript sources.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, dirname, resolve, relative, sep } from 'node:path';

const SRC = resolve('src');
// What each part may import (besides itself). `testkit` is reachable from tests only.
const ALLOWED = {
  packet: [],
  policy: [],
  functions: ['packet'],
  host: ['packet', 'functions', 'policy'],
  control: ['policy', 'packet', 'functions'], // host only through its contract files, see below
  sim: ['policy'],
  cli: ['packet', 'functions', 'host', 'policy', 'control', 'sim'],
  web: [],
  testkit: ['packet'],
};
// control/ may reach host/ only through files that are contracts (no implementation).
const HOST_CONTRACTS = /^host\/(contract|types)[^/]*\.ts$/;

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const files = walk(SRC, []);
const errors = [];
const graph = new Map();
const IMPORT = /(?:import|export)\s+(?:type\s+)?(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
const ANY = /:\s*any\b|<any>|\bas any\b/;

for (const file of files) {
  const rel = relative(SRC, file).split(sep).join('/');
  const part = rel.split('/')[0];
  const isTest = rel.endsWith('.test.ts');
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (ANY.test(line) && !line.trimStart().startsWith('//') && !line.trimStart().startsWith('*'))
      errors.push(`${rel}:${i + 1}: 'any' is not allowed`);
  });
  const deps = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2];
    if (!spec || !spec.startsWith('.')) continue;
    const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
    const trel = relative(SRC, target).split(sep).join('/');
    if (trel.startsWith('..')) { errors.push(`${rel}: imports outside src/: ${spec}`); continue; }
    const tpart = trel.split('/')[0];
    deps.push(target);
    if (tpart === part) continue;
    if (tpart === 'testkit' && isTest) continue;
    const allowed = ALLOWED[part];
    if (!allowed) { errors.push(`${rel}: unknown part '${part}' (add it to scripts/lint.mjs and DESIGN.md)`); continue; }
    if (part === 'control' && tpart === 'host' && HOST_CONTRACTS.test(trel)) continue;
    if (!allowed.includes(tpart)) errors.push(`${rel}: '${part}/' may not import '${tpart}/' (${spec})`);
  }
  graph.set(file, deps);
}

// Cycle detection (Tarjan-free DFS with colours); type-only imports count too.
const colour = new Map();
const stack = [];
function dfs(n) {
  colour.set(n, 1);
  stack.push(n);
  for (const d of graph.get(n) ?? []) {
    if (!graph.has(d)) continue;
    const c = colour.get(d) ?? 0;
    if (c === 1) {
      const cyc = stack.slice(stack.indexOf(d)).concat(d).map((f) => relative(SRC, f));
      errors.push(`import cycle: ${cyc.join(' -> ')}`);
    } else if (c === 0) dfs(d);
  }
  stack.pop();
  colour.set(n, 2);
}
for (const f of graph.keys()) if (!colour.get(f)) dfs(f);

if (errors.length) {
  for (const e of errors) console.error(`lint: ${e}`);
  console.error(`lint: ${errors.length} problem(s)`);
  process.exit(1);
}
console.log(`lint: ${files.length} files, layering and cycles ok`);
