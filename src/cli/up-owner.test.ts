import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenAuth } from '../control/api/auth.js';
import { MemoryStore } from '../control/store/memory.js';
import { startEmbedded } from './up.js';

const auth = new TokenAuth([{ name: 'admin', token: 'owner-test', admin: true }]);

// Both the overload controller and the urbanizer spread a hot server at the peak: run together
// they would each create a migration for the same load (duplicate moves). `swnet up` gives the
// urbanizer the job, and the overload controller runs only with --no-urbanize.
test('swnet up: one owner of moves for load — the urbanizer (no overload controller); with --no-urbanize the overload controller', { timeout: 60_000 }, async () => {
  for (const urbanize of [true, false]) {
    const store = new MemoryStore();
    const e = await startEmbedded(store, { auth, port: 0, servers: 1, ...(urbanize ? {} : { urbanize: false as const }) });
    try {
      assert.equal(e.urbanizer !== undefined, urbanize);
      assert.ok(e.controllers.includes('migration'), e.controllers.join(','));
      assert.equal(e.controllers.includes('overload'), !urbanize, `urbanize ${urbanize}: controllers ${e.controllers.join(', ')}`);
    } finally {
      await e.stop();
      await store.close();
    }
  }
});
