import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlowTable, setKey4, keyAddrText } from './flowtable.js';
import { rng } from '../testing.js';

test('flowtable: agrees with a Map through random inserts, removes and expiry; values follow moves', () => {
  const r = rng(5);
  const value = new Int32Array(1 << 12);
  const t = new FlowTable(1500, (from, to) => { value[to] = value[from] as number; });
  const ref = new Map<string, { v: number; seen: number }>();
  const k = t.scratch;
  let now = 0;
  for (let step = 0; step < 40000; step++) {
    now += 1;
    const src = r() % 3000;
    setKey4(k, src, 0x0a000001, 1000, 80, 6);
    const name = String(src);
    const op = r() % 10;
    const i = t.find(k);
    assert.equal(i >= 0, ref.has(name), `presence of ${name}`);
    if (i >= 0) assert.equal(value[i], ref.get(name)?.v);
    if (op < 6 && i < 0) {
      const j = t.insert(k, now);
      if (ref.size >= 1500) assert.equal(j, -1);
      else {
        assert.ok(j >= 0);
        value[j] = step;
        ref.set(name, { v: step, seen: now });
      }
    } else if (op < 9 && i >= 0) {
      t.removeAt(i);
      ref.delete(name);
    } else if (op === 9 && step % 50 === 0) {
      const expired = t.expire(now, 500);
      let want = 0;
      for (const [key, e] of ref) if (now - e.seen >= 500) { ref.delete(key); want++; }
      assert.equal(expired, want);
    }
    assert.equal(t.size, ref.size);
  }
  setKey4(k, 0xc0000201, 0x0a000001, 1, 2, 17);
  assert.equal(keyAddrText(k, 0), '192.0.2.1');
});
