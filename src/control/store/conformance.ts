/**
 * The one conformance suite every {@link Store} backend must pass (js-libp2p's "compliance
 * test" pattern). Tests only assume what the contract says: revisions are compared
 * relatively, and each test works under its own key prefix so that one server (etcd) can be
 * shared by the whole suite.
 *
 * @example
 * storeConformance('memory', async () => new MemoryStore());
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Compare, Op, Store, WatchEvent } from './contract.js';
import { Reflector } from './reflector.js';

let seq = 0;
const uniq = (): string => `/conf/${process.pid}-${Date.now().toString(36)}-${++seq}/`;

export interface Collector {
  readonly events: WatchEvent[];
  /** Resolves when at least n events arrived (rejects after `ms`). */
  waitFor(n: number, ms?: number): Promise<WatchEvent[]>;
  cancel(): Promise<void>;
}

/** Watches `prefix` and records every event, for tests. */
export async function collect(store: Store, prefix: string, fromRevision?: number): Promise<Collector> {
  const events: WatchEvent[] = [];
  let wake: (() => void) | undefined;
  const w = await store.watch(prefix, fromRevision !== undefined ? { fromRevision } : {}, (evs) => {
    events.push(...evs);
    wake?.();
  });
  return {
    events,
    cancel: () => w.cancel(),
    async waitFor(n: number, ms = 5000): Promise<WatchEvent[]> {
      const deadline = Date.now() + ms;
      while (events.length < n) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} events, got ${events.length}: ${JSON.stringify(events.map((e) => [e.type, e.key, e.revision]))}`);
        await new Promise<void>((res) => {
          wake = res;
          setTimeout(res, 50);
        });
      }
      return events;
    },
  };
}

const rejectsNamed = async (p: Promise<unknown>, name: string): Promise<Error> => {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof Error, 'an Error');
    assert.equal(e.name, name, e.message);
    return e;
  }
  assert.fail(`expected ${name}`);
};

export function storeConformance(name: string, makeStore: () => Promise<Store>, cleanup?: () => Promise<void>): void {
  describe(`store conformance: ${name}`, () => {
    let s: Store;
    before(async () => {
      s = await makeStore();
    });
    after(async () => {
      await s.close();
      await cleanup?.();
    });

    it('puts and gets JSON and bytes with revision metadata', async () => {
      const p = uniq();
      const r0 = await s.revision();
      const r1 = await s.put(`${p}a`, { x: 1, nested: { list: [1, 'two', null, true] } });
      assert.equal(r1, r0 + 1);
      const r2 = await s.put(`${p}b`, new Uint8Array([0, 1, 2, 255]));
      assert.equal(r2, r1 + 1);
      const r3 = await s.put(`${p}a`, { x: 2 });
      const a = await s.get(`${p}a`);
      assert.deepEqual(a?.value, { x: 2 });
      assert.equal(a?.createRevision, r1);
      assert.equal(a?.modRevision, r3);
      assert.equal(a?.version, 2);
      assert.equal(a?.lease, undefined);
      const b = await s.get(`${p}b`);
      assert.ok(b?.value instanceof Uint8Array);
      assert.deepEqual([...(b.value as Uint8Array)], [0, 1, 2, 255]);
      assert.equal(await s.get(`${p}missing`), undefined);
      assert.equal(await s.revision(), r3);
    });

    it('isolates stored values from the caller', async () => {
      const p = uniq();
      const v = { list: [1] };
      await s.put(`${p}k`, v);
      v.list.push(2);
      const got = await s.get(`${p}k`);
      assert.deepEqual(got?.value, { list: [1] });
      (got?.value as { list: number[] }).list.push(3);
      assert.deepEqual((await s.get(`${p}k`))?.value, { list: [1] });
    });

    it('lists by prefix in key order, honouring the prefix boundary and limit', async () => {
      const p = uniq();
      for (const k of ['b/2', 'a', 'b/1', 'bc', 'b/10']) await s.put(`${p}${k}`, { k });
      const all = await s.list(p);
      assert.deepEqual(all.items.map((i) => i.key.slice(p.length)), ['a', 'b/1', 'b/10', 'b/2', 'bc']);
      assert.equal(all.revision, await s.revision());
      const b = await s.list(`${p}b/`);
      assert.deepEqual(b.items.map((i) => i.key.slice(p.length)), ['b/1', 'b/10', 'b/2']);
      const lim = await s.list(p, { limit: 2 });
      assert.deepEqual(lim.items.map((i) => i.key.slice(p.length)), ['a', 'b/1']);
    });

    it('reads the past at a revision', async () => {
      const p = uniq();
      const r1 = await s.put(`${p}k`, { v: 1 });
      const r2 = await s.put(`${p}k`, { v: 2 });
      await s.put(`${p}j`, { v: 9 });
      const { revision: r4 } = await s.delete(`${p}k`);
      assert.equal(await s.get(`${p}k`), undefined);
      assert.deepEqual((await s.get(`${p}k`, { revision: r1 }))?.value, { v: 1 });
      assert.deepEqual((await s.get(`${p}k`, { revision: r2 }))?.value, { v: 2 });
      assert.equal(await s.get(`${p}k`, { revision: r4 }), undefined);
      assert.deepEqual((await s.list(p, { revision: r2 })).items.map((i) => i.value), [{ v: 2 }]);
      assert.deepEqual((await s.list(p, { revision: r4 })).items.map((i) => i.value), [{ v: 9 }]);
      await rejectsNamed(s.get(`${p}k`, { revision: r4 + 1000 }), 'FutureRevisionError');
    });

    it('compare-and-swap on put and delete', async () => {
      const p = uniq();
      const r1 = await s.put(`${p}k`, { v: 1 }, { expect: 0 });
      const e = await rejectsNamed(s.put(`${p}k`, { v: 2 }, { expect: 0 }), 'CasFailedError');
      assert.match(e.message, /expected modRevision 0/);
      assert.equal((e as Error & { actual: number }).actual, r1);
      const r2 = await s.put(`${p}k`, { v: 2 }, { expect: r1 });
      await rejectsNamed(s.put(`${p}k`, { v: 3 }, { expect: r1 }), 'CasFailedError');
      await rejectsNamed(s.delete(`${p}k`, { expect: r1 }), 'CasFailedError');
      assert.deepEqual((await s.get(`${p}k`))?.value, { v: 2 });
      const d = await s.delete(`${p}k`, { expect: r2 });
      assert.equal(d.deleted, true);
      assert.equal(d.revision, r2 + 1);
      const before = await s.revision();
      const d2 = await s.delete(`${p}k`);
      assert.equal(d2.deleted, false);
      assert.equal(await s.revision(), before, 'deleting a missing key does not bump the revision');
      await rejectsNamed(s.put(`${p}k`, { v: 4 }, { expect: r2 }), 'CasFailedError');
      // A deleted key compares as absent: "must not exist" holds again.
      const r5 = await s.put(`${p}k`, { v: 5 }, { expect: 0 });
      assert.equal((await s.get(`${p}k`))?.createRevision, r5);
      assert.equal((await s.get(`${p}k`))?.version, 1);
    });

    it('transactions are all-or-nothing and share one revision', async () => {
      const p = uniq();
      const r1 = await s.put(`${p}net`, { gen: 1 });
      await s.put(`${p}fn/old`, { x: 0 });
      const bad = await s.txn(
        [
          { key: `${p}net`, modRevision: r1 },
          { key: `${p}fn/a`, modRevision: r1 },
        ],
        [
          { type: 'put', key: `${p}net`, value: { gen: 2 } },
          { type: 'put', key: `${p}fn/a`, value: { a: 1 } },
        ],
      );
      assert.equal(bad.succeeded, false);
      assert.deepEqual((await s.get(`${p}net`))?.value, { gen: 1 });
      assert.equal(await s.get(`${p}fn/a`), undefined);
      const good = await s.txn(
        [
          { key: `${p}net`, modRevision: r1 },
          { key: `${p}fn/a`, modRevision: 0 },
        ],
        [
          { type: 'delete', key: `${p}fn/o`, prefix: true },
          { type: 'put', key: `${p}net`, value: { gen: 2 } },
          { type: 'put', key: `${p}fn/a`, value: { a: 1 } },
          { type: 'put', key: `${p}fn/b`, value: new Uint8Array([7]) },
        ],
      );
      assert.equal(good.succeeded, true);
      assert.equal(good.deleted, 1);
      const items = (await s.list(p)).items;
      assert.deepEqual(items.map((i) => i.key.slice(p.length)), ['fn/a', 'fn/b', 'net']);
      assert.ok(items.every((i) => i.modRevision === good.revision));
      assert.equal(good.revision, await s.revision());
      await rejectsNamed(
        s.txn([], [
          { type: 'put', key: `${p}x`, value: { a: 1 } },
          { type: 'put', key: `${p}x`, value: { a: 2 } },
        ]),
        'InvalidTxnError',
      );
      await rejectsNamed(
        s.txn([], [
          { type: 'delete', key: p, prefix: true },
          { type: 'put', key: `${p}x`, value: { a: 2 } },
        ]),
        'InvalidTxnError',
      );
      assert.equal(await s.get(`${p}x`), undefined);
    });

    it('concurrent compare-and-swap increments lose no update', async () => {
      const p = uniq();
      await s.put(`${p}counter`, { n: 0 });
      const inc = async (): Promise<void> => {
        for (;;) {
          const cur = (await s.get(`${p}counter`))!;
          const n = (cur.value as { n: number }).n;
          const r = await s.txn([{ key: cur.key, modRevision: cur.modRevision }], [{ type: 'put', key: cur.key, value: { n: n + 1 } }]);
          if (r.succeeded) return;
        }
      };
      await Promise.all(Array.from({ length: 10 }, inc));
      assert.deepEqual((await s.get(`${p}counter`))?.value, { n: 10 });
    });

    it('agrees with a reference model on random operation sequences (fast-check)', async () => {
      const KEYS = ['a0', 'a1', 'a2', 'b0', 'b1'];
      const key = fc.integer({ min: 0, max: KEYS.length - 1 }).map((i) => KEYS[i]!);
      const step = fc.oneof(
        fc.record({ t: fc.constant('put' as const), k: key, v: fc.integer({ min: 0, max: 99 }) }),
        fc.record({ t: fc.constant('cas' as const), k: key, v: fc.integer({ min: 0, max: 99 }), good: fc.boolean() }),
        fc.record({ t: fc.constant('del' as const), k: key }),
        fc.record({ t: fc.constant('delp' as const), p: fc.constantFrom('a', 'b') }),
        fc.record({
          t: fc.constant('txn' as const),
          cmp: fc.array(fc.record({ k: key, good: fc.boolean() }), { maxLength: 2 }),
          puts: fc.uniqueArray(key, { maxLength: 3 }),
          dels: fc.uniqueArray(key, { maxLength: 2 }),
          v: fc.integer({ min: 0, max: 99 }),
        }),
      );
      interface M {
        v: number;
        mod: number;
        create: number;
        version: number;
      }
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 20 }), async (steps) => {
          const p = uniq();
          const model = new Map<string, M>();
          const log: [string, string, number][] = [];
          let rev = await s.revision();
          const start = rev;
          const snapshots = new Map<number, string>();
          const snap = (): string => JSON.stringify([...model.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, m]) => [k, m.v, m.mod]));
          const mod = (k: string): number => model.get(k)?.mod ?? 0;
          const apply = (ops: { put?: [string, number]; del?: string; delp?: string }[]): void => {
            const next = rev + 1;
            let changed = false;
            for (const o of ops) {
              if (o.put) {
                const [k, v] = o.put;
                const cur = model.get(k);
                model.set(k, { v, mod: next, create: cur ? cur.create : next, version: cur ? cur.version + 1 : 1 });
                log.push(['put', k, next]);
                changed = true;
              }
              const dels = o.del !== undefined ? [o.del] : o.delp !== undefined ? [...model.keys()].filter((k) => k.startsWith(o.delp!)).sort() : [];
              for (const k of dels) {
                if (!model.delete(k)) continue;
                log.push(['delete', k, next]);
                changed = true;
              }
            }
            if (changed) rev = next;
            snapshots.set(rev, snap());
          };
          for (const st of steps) {
            if (st.t === 'put') {
              assert.equal(await s.put(p + st.k, { v: st.v }), rev + 1);
              apply([{ put: [st.k, st.v] }]);
            } else if (st.t === 'cas') {
              const expect = st.good ? mod(st.k) : mod(st.k) + 1000;
              const ok = await s.put(p + st.k, { v: st.v }, { expect }).then(
                () => true,
                (e: Error) => {
                  assert.equal(e.name, 'CasFailedError');
                  return false;
                },
              );
              assert.equal(ok, st.good);
              if (ok) apply([{ put: [st.k, st.v] }]);
            } else if (st.t === 'del') {
              const r = await s.delete(p + st.k);
              assert.equal(r.deleted, model.has(st.k));
              apply([{ del: st.k }]);
              assert.equal(r.revision, rev);
            } else if (st.t === 'delp') {
              const r = await s.txn([], [{ type: 'delete', key: p + st.p, prefix: true }]);
              const n = [...model.keys()].filter((k) => k.startsWith(st.p)).length;
              assert.equal(r.deleted, n);
              apply([{ delp: st.p }]);
              assert.equal(r.revision, rev);
            } else {
              const dels = st.dels.filter((k) => !st.puts.includes(k));
              const cmps: Compare[] = st.cmp.map((c) => ({ key: p + c.k, modRevision: c.good ? mod(c.k) : mod(c.k) + 1000 }));
              const ops: Op[] = [...st.puts.map((k): Op => ({ type: 'put', key: p + k, value: { v: st.v } })), ...dels.map((k): Op => ({ type: 'delete', key: p + k }))];
              const r = await s.txn(cmps, ops);
              const should = st.cmp.every((c) => c.good);
              assert.equal(r.succeeded, should);
              if (should) apply([...st.puts.map((k) => ({ put: [k, st.v] as [string, number] })), ...dels.map((k) => ({ del: k }))]);
              assert.equal(r.revision, rev);
            }
          }
          const got = (await s.list(p)).items;
          assert.deepEqual(
            got.map((i) => [i.key.slice(p.length), (i.value as { v: number }).v, i.modRevision, i.createRevision, i.version]),
            [...model.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, m]) => [k, m.v, m.mod, m.create, m.version]),
          );
          for (const [r, want] of snapshots) {
            const past = (await s.list(p, { revision: r })).items.map((i) => [i.key.slice(p.length), (i.value as { v: number }).v, i.modRevision]);
            assert.equal(JSON.stringify(past), want, `state at revision ${r}`);
          }
          if (log.length > 0) {
            const c = await collect(s, p, start + 1);
            const ev = await c.waitFor(log.length);
            await c.cancel();
            assert.deepEqual(ev.map((e) => [e.type, e.key.slice(p.length), e.revision]), log);
          }
        }),
        { numRuns: 25 },
      );
    });

    it('watches from a revision: history then live changes, in order, grouped by txn', async () => {
      const p = uniq();
      const r1 = await s.put(`${p}a`, { v: 1 });
      await s.txn([], [
        { type: 'put', key: `${p}b`, value: { v: 2 } },
        { type: 'put', key: `${p}c`, value: { v: 3 } },
      ]);
      await s.put(`${uniq()}other`, { v: 0 });
      await s.delete(`${p}a`);
      const c = await collect(s, p, r1);
      await c.waitFor(4);
      const live = await s.put(`${p}d`, new Uint8Array([1, 2]));
      const ev = await c.waitFor(5);
      assert.deepEqual(ev.map((e) => [e.type, e.key.slice(p.length)]), [
        ['put', 'a'],
        ['put', 'b'],
        ['put', 'c'],
        ['delete', 'a'],
        ['put', 'd'],
      ]);
      assert.equal(ev[0]!.revision, r1);
      assert.equal(ev[1]!.revision, ev[2]!.revision);
      assert.ok(ev[3]!.revision > ev[2]!.revision);
      assert.equal(ev[4]!.revision, live);
      assert.deepEqual(ev[1]!.kv?.value, { v: 2 });
      assert.equal(ev[1]!.kv?.modRevision, ev[1]!.revision);
      assert.deepEqual([...(ev[4]!.kv!.value as Uint8Array)], [1, 2]);
      for (let i = 1; i < ev.length; i++) assert.ok(ev[i]!.revision >= ev[i - 1]!.revision);
      await c.cancel();
      await s.put(`${p}e`, { v: 5 });
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(c.events.length, 5, 'no event after cancel');
    });

    it('a watch without a revision sees only later changes', async () => {
      const p = uniq();
      await s.put(`${p}old`, { v: 0 });
      const c = await collect(s, p);
      for (let i = 0; i < 20; i++) await s.put(`${p}k${String(i).padStart(2, '0')}`, { i });
      const ev = await c.waitFor(20);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(c.events.length, 20);
      assert.deepEqual(ev.map((e) => (e.kv?.value as { i: number }).i), Array.from({ length: 20 }, (_, i) => i));
      await c.cancel();
    });

    it('a reflector (list + watch) mirrors the store under concurrent writes', async () => {
      const p = uniq();
      for (let i = 0; i < 5; i++) await s.put(`${p}k${i}`, { i });
      const r = await Reflector.start(s, { prefix: p });
      const writers = Array.from({ length: 4 }, async (_, w) => {
        for (let i = 0; i < 10; i++) {
          if ((i + w) % 3 === 0) await s.delete(`${p}k${(i * 7 + w) % 8}`);
          else await s.put(`${p}k${(i * 5 + w) % 8}`, { w, i });
        }
      });
      await Promise.all(writers);
      const truth = await s.list(p);
      await r.waitFor(truth.revision);
      assert.deepEqual(
        [...r.cache.values()].sort((a, b) => (a.key < b.key ? -1 : 1)).map((kv) => [kv.key, kv.modRevision, kv.value]),
        truth.items.map((kv) => [kv.key, kv.modRevision, kv.value]),
      );
      await r.stop();
    });

    it('compaction: old revisions fail with CompactedError naming the oldest, current data stays', async () => {
      const p = uniq();
      const r1 = await s.put(`${p}k`, { v: 1 });
      const r2 = await s.put(`${p}k`, { v: 2 });
      await s.put(`${p}j`, { v: 3 });
      await s.compact(r2);
      assert.ok((await s.compactRevision()) >= r2);
      const e = (await rejectsNamed(s.get(`${p}k`, { revision: r1 }), 'CompactedError')) as Error & { oldest: number; requested: number };
      assert.equal(e.requested, r1);
      assert.equal(e.oldest, r2);
      assert.match(e.message, new RegExp(`oldest available revision is ${r2}`));
      const w = (await rejectsNamed(s.watch(p, { fromRevision: r1 }, () => undefined), 'CompactedError')) as Error & { oldest: number };
      assert.equal(w.oldest, r2);
      assert.deepEqual((await s.get(`${p}k`, { revision: r2 }))?.value, { v: 2 });
      assert.deepEqual((await s.list(p)).items.map((i) => i.value), [{ v: 3 }, { v: 2 }]);
      const c = await collect(s, p, r2);
      const ev = await c.waitFor(2);
      assert.deepEqual(ev.map((x) => x.key.slice(p.length)), ['k', 'j']);
      await c.cancel();
      await rejectsNamed(s.compact((await s.revision()) + 100), 'FutureRevisionError');
    });

    it('leases: keys attached to a revoked lease are deleted and watchers see it', async () => {
      const p = uniq();
      const l = await s.grantLease(30);
      assert.ok(l.ttl >= 30);
      await s.put(`${p}hb/a`, { alive: true }, { lease: l.id });
      await s.put(`${p}hb/b`, { alive: true }, { lease: l.id });
      await s.put(`${p}keep`, { v: 1 });
      assert.equal((await s.get(`${p}hb/a`))?.lease, l.id);
      assert.ok((await s.keepAlive(l.id)) >= 30);
      const c = await collect(s, p);
      await s.revokeLease(l.id);
      const ev = await c.waitFor(2);
      assert.deepEqual(ev.map((e) => [e.type, e.key.slice(p.length)]).sort(), [
        ['delete', 'hb/a'],
        ['delete', 'hb/b'],
      ]);
      assert.equal(ev[0]!.revision, ev[1]!.revision, 'one revision for the revocation');
      assert.deepEqual((await s.list(p)).items.map((i) => i.key.slice(p.length)), ['keep']);
      await rejectsNamed(s.keepAlive(l.id), 'LeaseNotFoundError');
      await rejectsNamed(s.revokeLease(l.id), 'LeaseNotFoundError');
      await rejectsNamed(s.put(`${p}x`, { v: 1 }, { lease: l.id }), 'LeaseNotFoundError');
      assert.equal(await s.get(`${p}x`), undefined);
      await c.cancel();
    });

    it('leases: a re-put without the lease detaches the key', async () => {
      const p = uniq();
      const l = await s.grantLease(30);
      await s.put(`${p}a`, { v: 1 }, { lease: l.id });
      await s.put(`${p}a`, { v: 2 });
      await s.revokeLease(l.id);
      assert.deepEqual((await s.get(`${p}a`))?.value, { v: 2 });
    });

    it('leases: an expired lease deletes its keys without keep-alive', async () => {
      const p = uniq();
      const l = await s.grantLease(1);
      await s.put(`${p}hb`, { alive: true }, { lease: l.id });
      const c = await collect(s, p);
      const t0 = Date.now();
      const ev = await c.waitFor(1, 10_000);
      assert.equal(ev[0]!.type, 'delete');
      assert.ok(Date.now() - t0 >= 500, 'not before the TTL');
      assert.equal(await s.get(`${p}hb`), undefined);
      await rejectsNamed(s.keepAlive(l.id), 'LeaseNotFoundError');
      await c.cancel();
    });
  });
}
