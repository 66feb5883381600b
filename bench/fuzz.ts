/**
 * `npm run fuzz [-- --frames N] [--seed S]`: the long fuzz run (default 5,000,000 frames) of
 * src/packet/fuzz.ts; exits 1 on the first failures, printing the frames (hex) to reproduce them.
 */
import { runFuzz } from '../src/packet/fuzz.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : dflt;
  if (!Number.isFinite(v) || v < 0) {
    console.error(`--${name} needs a non-negative number`);
    process.exit(2);
  }
  return v;
}

const frames = arg('frames', 5_000_000);
const seed = arg('seed', Date.now() % 0x7fffffff);
console.log(`fuzz: ${frames} frames, seed ${seed}`);
const t0 = performance.now();
const r = runFuzz({
  frames,
  seed,
  onProgress: (n) => {
    const s = (performance.now() - t0) / 1000;
    console.log(`  ${n} frames, ${s.toFixed(0)} s, ${(n / s).toFixed(0)} frames/s`);
  },
});
const s = (performance.now() - t0) / 1000;
console.log(`fuzz: ${frames} frames in ${s.toFixed(1)} s; outcomes:`);
for (const [k, v] of Object.entries(r.reasons).sort((a, b) => b[1] - a[1])) console.log(`  ${k}: ${v}`);
if (r.failures.length) {
  for (const f of r.failures) console.log(`FAIL at frame ${f.iteration} (seed ${seed}): ${f.message}\n  frame ${f.frameHex}`);
  process.exit(1);
}
console.log('fuzz: no exception, no out-of-bounds read');
