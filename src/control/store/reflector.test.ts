import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CompactedError, type Store, type Watch, type WatchEvent, type WatchOptions } from './contract.js';
import { MemoryStore } from './memory.js';
import { Reflector, type CacheChange } from './reflector.js';

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
});
