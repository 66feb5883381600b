import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CompactedError, type Store, type Watch, type WatchEvent, type WatchOptions } from './contract.js';
import { MemoryStore } from './memory.js';
import { Reflector, TEXT_THRESHOLD, type CacheChange } from './reflector.js';

const show = (ch: readonly CacheChange[]): string[] => ch.map((c) => `${c.type} ${c.key}${c.prev ? ' (had)' : ''}`);

describe('reflector', () => {
  it('lists, then follows the store; waitFor gives read-your-writes', async () => {
    const s = new MemoryStore();
    await s.put('/r/a', { v: 1 });
    await s.put('/other/x', { v: 1 });
    const seen: string[][] = [];
    const r = await Reflector.start(s, { prefix: '/r/', onChange: (ch) => seen.push(show(ch)) });
    assert.deepEqual(seen, [['put /r/a']]);
    const rev = await s.txn([], [
      { type: 'put', key: '/r/a', value: { v: 2 } },
      { type: 'put', key: '/r/b', value: { v: 1 } },
    ]);
    await r.waitFor(rev.revision);
    assert.deepEqual((r.cache.get('/r/a')?.value as { v: number }).v, 2);
    assert.equal(r.revision, rev.revision);
    await s.delete('/r/a');
    await r.waitFor(await s.revision());
    assert.deepEqual([...r.cache.keys()], ['/r/b']);
    assert.deepEqual(seen.slice(1), [['put /r/a (had)', 'put /r/b'], ['delete /r/a (had)']]);
    await r.stop();
  });

  it('relists when its watch is lost and reports exactly the difference', async () => {
    const s = new MemoryStore();
    let lose: ((e: Error) => void) | undefined;
    let inner: Watch | undefined;
    const flaky = Object.create(s) as Store;
    flaky.watch = async (prefix: string, opts: WatchOptions, on: (e: readonly WatchEvent[]) => void): Promise<Watch> => {
      inner = await s.watch(prefix, opts, on);
      lose = opts.onError;
      return inner;
    };
    await s.put('/r/a', { v: 1 });
    await s.put('/r/b', { v: 1 });
    await s.put('/r/same', { v: 1 });
    const seen: string[][] = [];
    const causes: string[] = [];
    const r = await Reflector.start(flaky, { prefix: '/r/', onChange: (ch) => seen.push(show(ch)), onRelist: (e) => causes.push(e.name) });
    await inner!.cancel(); // events from here on are missed ...
    await s.put('/r/a', { v: 2 });
    await s.delete('/r/b');
    await s.put('/r/c', { v: 1 });
    await s.compact(await s.revision());
    lose!(new CompactedError(r.revision + 1, await s.revision())); // ... until the watch reports it is lost
    await r.waitFor(await s.revision());
    assert.deepEqual(causes, ['CompactedError']);
    assert.deepEqual(seen.slice(1), [['put /r/a (had)', 'put /r/c', 'delete /r/b (had)']]);
    assert.deepEqual([...r.cache.keys()].sort(), ['/r/a', '/r/c', '/r/same']);
    const rev = await s.put('/r/d', { v: 1 });
    await r.waitFor(rev);
    assert.ok(r.cache.has('/r/d'), 'follows live changes again after the relist');
    await r.stop();
  });

  it('is shared per store and prefix: one list and one watch; a late handle hears every key; the last stop ends the watch', async () => {
    const s = new MemoryStore();
    let lists = 0;
    let watches = 0;
    let cancels = 0;
    const counting = Object.create(s) as Store;
    counting.list = async (...a: Parameters<Store['list']>) => {
      lists++;
      return s.list(...a);
    };
    counting.watch = async (...a: Parameters<Store['watch']>) => {
      watches++;
      const w = await s.watch(...a);
      return { cancel: async () => void (cancels++, await w.cancel()) };
    };
    await s.put('/r/a', { v: 1 });
    const first: string[][] = [];
    const second: string[][] = [];
    const a = await Reflector.start(counting, { prefix: '/r/', onChange: (ch) => first.push(show(ch)) });
    await s.put('/r/b', { v: 1 });
    await a.waitFor(await s.revision());
    const b = await Reflector.start(counting, { prefix: '/r/', onChange: (ch) => second.push(show(ch)) });
    assert.equal(b.cache, a.cache);
    assert.deepEqual(second, [['put /r/a', 'put /r/b']]);
    assert.deepEqual([lists, watches], [1, 1]);
    await a.stop();
    const rev = await s.put('/r/c', { v: 1 });
    await b.waitFor(rev);
    assert.deepEqual(second.at(-1), ['put /r/c']);
    assert.deepEqual(first, [['put /r/a'], ['put /r/b']], 'a stopped handle hears nothing');
    assert.equal(cancels, 0, 'the watch stays while a handle remains');
    await b.stop();
    assert.equal(cancels, 1);
    // After the last stop, a new start lists and watches afresh.
    const c = await Reflector.start(counting, { prefix: '/r/' });
    assert.deepEqual([lists, watches, c.cache.size], [2, 2, 3]);
    await c.stop();
  });

  it('keeps large JSON values as text and gives back equal objects', async () => {
    const s = new MemoryStore();
    const big = { spec: { functions: Array.from({ length: 20 }, (_, i) => ({ name: `f${i}`, kind: 'switch', config: { ports: [{ name: 'a' }, { name: 'b' }] } })) } };
    assert.ok(JSON.stringify(big).length > TEXT_THRESHOLD);
    await s.put('/r/big', big);
    const arrows = { ...big, status: { message: 'fw→s1 😀 ünïcode' } };
    await s.put('/r/arrows', arrows);
    await s.put('/r/small', { v: 1 });
    await s.put('/r/bytes', new Uint8Array([0, 1, 2]));
    const r = await Reflector.start(s, { prefix: '/r/' });
    const kv = r.cache.get('/r/big')!;
    assert.deepEqual(kv.value, big);
    assert.notEqual(kv.value, kv.value, 'parsed on each read: callers may not share mutable state through the cache');
    assert.deepEqual(r.cache.get('/r/arrows')?.value, arrows, 'characters beyond Latin-1 survive their escaping');
    assert.deepEqual(r.cache.get('/r/small')?.value, { v: 1 });
    assert.deepEqual(r.cache.get('/r/bytes')?.value, new Uint8Array([0, 1, 2]));
    assert.equal(kv.version, 1);
    await r.stop();
  });
});
