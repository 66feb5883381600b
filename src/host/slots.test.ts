import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Batch } from '../packet/pool.js';
import { Ring } from './ring.js';
import { SlotLayout, DomainSlots, grantCopy, crossingMode } from './slots.js';

/** dom0 (host), d1 and d2 of tenant a, d3 of tenant b; every pair has a return ring. */
function setup(): { layout: SlotLayout; doms: Map<number, DomainSlots> } {
  const layout = new SlotLayout({
    slotSize: 256,
    headroom: 32,
    regions: [
      { domain: 0, tenant: 'host', slots: 16 },
      { domain: 1, tenant: 'a', slots: 16 },
      { domain: 2, tenant: 'a', slots: 16 },
      { domain: 3, tenant: 'b', slots: 16 },
    ],
  });
  const ids = [0, 1, 2, 3];
  const rings = new Map<string, Ring>();
  for (const from of ids) for (const to of ids) if (from !== to) rings.set(`${from}>${to}`, new Ring({ capacity: layout.returnRingCapacity(to) }));
  const doms = new Map<number, DomainSlots>();
  for (const d of ids) {
    // Each domain gets its own pool view over the same buffer, as a worker would.
    const pool = new SlotLayout({ regions: [...layout.regions], slotSize: 256, headroom: 32, buffer: layout.buffer }).pool();
    doms.set(
      d,
      new DomainSlots({
        layout,
        pool,
        domain: d,
        returnsIn: ids.filter((x) => x !== d).map((x) => rings.get(`${x}>${d}`) as Ring),
        returnsOut: new Map(ids.filter((x) => x !== d).map((x) => [x, rings.get(`${d}>${x}`) as Ring])),
      }),
    );
  }
  return { layout, doms };
}

function dom(doms: Map<number, DomainSlots>, d: number): DomainSlots {
  return doms.get(d) as DomainSlots;
}

test('page flip within a tenant: the slot crosses, is read in place, and goes home to its owner', () => {
  const { layout, doms } = setup();
  const pool = layout.pool();
  const d1 = dom(doms, 1);
  const d2 = dom(doms, 2);
  const b = new Batch(8);
  for (let k = 0; k < 8; k++) {
    const s = d1.alloc();
    assert.equal(layout.ownerOf(s)?.domain, 1);
    pool.bytes.fill(k, pool.frameOffset(s), pool.frameOffset(s) + 64);
    b.push(s, pool.frameOffset(s), 64);
  }
  assert.equal(crossingMode('a', 'a'), 'flip');
  assert.equal(d1.available, 8);
  // d2 receives the same descriptors (no copy), sees the bytes, then releases them.
  for (let k = 0; k < 8; k++) assert.equal(pool.bytes[(b.offs[k] as number) + 10], k);
  d2.release(b);
  assert.equal(d2.counters().returned, 8);
  assert.equal(d2.available, 16, 'd2 never took the slots into its own free stack');
  assert.equal(d1.reclaim(), 8);
  assert.equal(d1.available, 16);
});

test('grant copy between tenants: the receiver only ever holds its own slots; sources go home', () => {
  const { layout, doms } = setup();
  const pool = layout.pool();
  const d0 = dom(doms, 0);
  const d1 = dom(doms, 1);
  const d3 = dom(doms, 3);
  const src = new Batch(8);
  for (let k = 0; k < 6; k++) {
    const s = d1.alloc();
    const off = pool.frameOffset(s) - 4; // an encapsulated frame may start in the headroom
    pool.bytes.fill(100 + k, off, off + 70);
    src.push(s, off, 70);
  }
  const posted = new Batch(8);
  for (let k = 0; k < 4; k++) posted.push(d3.alloc(), 0, 0);
  const out = new Batch(8);
  assert.equal(crossingMode('a', 'b'), 'copy');
  const r = grantCopy(layout, pool, 'a', src, posted, out);
  assert.deepEqual(r, { copied: 4, noBuffer: 2, rejected: 0 });
  for (let k = 0; k < out.count; k++) {
    assert.equal(layout.ownerOf(out.slots[k] as number)?.tenant, 'b');
    const off = out.offs[k] as number;
    assert.deepEqual([...pool.bytes.subarray(off, off + 70)], new Array(70).fill(100 + k));
  }
  d0.release(src);
  assert.equal(d1.reclaim(), 6);
  d3.release(out);
  assert.equal(d3.available, 16);
});

test('hostile descriptors are counted, never thrown, and never copy another tenant\'s memory', () => {
  const { layout, doms } = setup();
  const pool = layout.pool();
  const d1 = dom(doms, 1);
  const d2 = dom(doms, 2);
  const d3 = dom(doms, 3);
  const bad = new Batch(8);
  const bSlot = d3.alloc();
  bad.push(bSlot, pool.frameOffset(bSlot), 64); // a slot of tenant b, claimed as tenant a
  bad.push(99999, 0, 64); // out of the pool
  const own = d1.alloc();
  bad.push(own, pool.frameOffset(own), 4000); // runs past its slot
  const posted = new Batch(8);
  posted.push(d3.alloc(), 0, 0);
  const out = new Batch(8);
  assert.deepEqual(grantCopy(layout, pool, 'a', bad, posted, out), { copied: 0, noBuffer: 0, rejected: 3 });
  const twice = new Batch(4);
  const s = d1.alloc();
  twice.push(s, 0, 0);
  twice.push(s, 0, 0);
  twice.push(-5, 0, 0);
  d1.release(twice);
  assert.equal(d1.counters().doubleFree, 1);
  assert.equal(d1.counters().invalid, 1);
  // A peer returning a slot that is not the owner's is rejected by the owner.
  d2.release(twice);
  d1.reclaim();
  assert.equal(d1.counters().doubleFree, 3);
});

test('a region allocates only its own slots and reports exhaustion with -1', () => {
  const { layout, doms } = setup();
  const d2 = dom(doms, 2);
  const got: number[] = [];
  for (let s = d2.alloc(); s >= 0; s = d2.alloc()) got.push(s);
  assert.equal(got.length, 16);
  assert.ok(got.every((s) => layout.ownerOf(s)?.domain === 2));
  assert.throws(() => new SlotLayout({ regions: [{ domain: 1, tenant: 'a', slots: 0 }] }), RangeError);
});
