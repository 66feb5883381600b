import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { apply } from '../manifest/apply.js';
import { parseManifestText } from '../manifest/load.js';
import { MemoryStore } from '../store/memory.js';
import { TokenAuth } from './auth.js';
import { ApiServer, type WatchMessage } from './server.js';

const ADMIN = 'admin-token-0123456789';
const TA = 'tenant-a-token-0123456789';
const net = (name: string, ns: string, tokens = 5): string =>
  `apiVersion: swnet.io/v1\nkind: SoftwareNetwork\nmetadata: { name: ${name}, namespace: ${ns} }\nspec:\n  tokens: ${tokens}\n  functions:\n    - { name: sw, kind: switch, config: { ports: [{ name: a }, { name: b }] } }\n`;

interface SseEvent {
  id?: string;
  data: WatchMessage;
}

/** A plain HTTP client of the SSE stream: collects events until `done` says so or the stream ends. */
function sse(url: string, headers: Record<string, string>, done: (evs: SseEvent[]) => boolean): Promise<{ status: number; type: string; events: SseEvent[]; ended: boolean; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res: IncomingMessage) => {
      const events: SseEvent[] = [];
      let buf = '';
      let body = '';
      let lastId: string | undefined;
      let finished = false;
      const finish = (ended: boolean): void => {
        if (finished) return;
        finished = true;
        req.destroy();
        resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), events, ended, body });
      };
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
        buf += chunk;
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('id: ')) lastId = line.slice(4);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (data !== '') events.push({ ...(lastId !== undefined ? { id: lastId } : {}), data: JSON.parse(data) as WatchMessage });
        }
        if (done(events)) finish(false);
      });
      res.on('end', () => finish(true));
    });
    req.on('error', (e) => reject(e));
    req.setTimeout(5000, () => reject(new Error('sse timed out')));
    req.end();
  });
}

describe('watch stream over SSE', () => {
  it('serves the WebSocket messages with tenant filtering, resumes with Last-Event-ID, reports compaction as an ERROR event', async () => {
    const store = new MemoryStore();
    const api = new ApiServer({ store, auth: new TokenAuth([{ name: 'ops', token: ADMIN, admin: true }, { name: 'tenant-a', token: TA }]), webRoot: null });
    const { url } = await api.listen(0, '127.0.0.1');
    try {
      const r0 = await store.revision();
      await apply(store, parseManifestText(net('web', 'tenant-a') + '---\n' + net('db', 'tenant-b'), 'x.yaml').resources);
      await apply(store, parseManifestText(net('web', 'tenant-a', 9), 'x.yaml').resources);
      // Tenant a, from the start: its own network only, created then modified, ids = revisions.
      const a = await sse(`${url}/api/v1/watch?resourceVersion=${r0}`, { Authorization: `Bearer ${TA}`, Accept: 'text/event-stream' }, (evs) => evs.length >= 2);
      assert.equal(a.status, 200);
      assert.match(a.type, /^text\/event-stream/);
      assert.deepEqual(
        a.events.map((e) => `${e.data.type} ${e.data.key}`),
        ['ADDED /swnet/softwarenetwork/tenant-a/web', 'MODIFIED /swnet/softwarenetwork/tenant-a/web'],
      );
      for (const e of a.events) assert.equal(e.id, String(e.data.revision));
      // The admin sees both tenants' networks (same messages as the WebSocket: ADDED with the object).
      const all = await sse(`${url}/api/v1/watch?sse=1&resourceVersion=${r0}&kind=softwarenetwork`, { Authorization: `Bearer ${ADMIN}` }, (evs) => evs.length >= 3);
      assert.deepEqual(all.events.map((e) => e.data.key).sort(), ['/swnet/softwarenetwork/tenant-a/web', '/swnet/softwarenetwork/tenant-a/web', '/swnet/softwarenetwork/tenant-b/db']);
      assert.equal((all.events[0]!.data.object['metadata'] as { name: string }).name, all.events[0]!.data.key!.split('/').pop());
      // Resume after the first event with Last-Event-ID: only what came after it, live changes too.
      const first = a.events[0]!.id!;
      const resumed = sse(`${url}/api/v1/watch`, { Authorization: `Bearer ${TA}`, Accept: 'text/event-stream', 'Last-Event-ID': first }, (evs) => evs.length >= 2);
      await new Promise((r) => setTimeout(r, 50));
      await apply(store, parseManifestText(net('web', 'tenant-a', 3), 'x.yaml').resources);
      const res = await resumed;
      assert.deepEqual(
        res.events.map((e) => e.data.type),
        ['MODIFIED', 'MODIFIED'],
      );
      assert.ok(res.events.every((e) => Number(e.id) > Number(first)));
      assert.equal((res.events[1]!.data.object['spec'] as { tokens: number }).tokens, 3);
      // Compacted revision: an ERROR message with the Status (410, oldest revision), then the stream ends.
      await store.compact(await store.revision());
      const gone = await sse(`${url}/api/v1/watch`, { Authorization: `Bearer ${TA}`, Accept: 'text/event-stream', 'Last-Event-ID': first }, () => false);
      assert.equal(gone.ended, true);
      assert.equal(gone.events.length, 1);
      assert.equal(gone.events[0]!.data.type, 'ERROR');
      assert.equal(gone.events[0]!.data.object['code'], 410);
      assert.equal(gone.events[0]!.data.object['reason'], 'CompactedError');
      // No token: 401 before any stream; neither SSE nor an upgrade asked for: 400.
      const anon = await sse(`${url}/api/v1/watch?sse=1`, {}, () => false);
      assert.equal(anon.status, 401);
      assert.equal(JSON.parse(anon.body).reason, 'UnauthorizedError');
      const plain = await sse(`${url}/api/v1/watch`, { Authorization: `Bearer ${TA}` }, () => false);
      assert.equal(plain.status, 400);
      const badId = await sse(`${url}/api/v1/watch?sse=1`, { Authorization: `Bearer ${TA}`, 'Last-Event-ID': 'x' }, () => false);
      assert.equal(badId.status, 400);
    } finally {
      await api.close();
      await store.close();
    }
  });

  it('close() ends open SSE streams', async () => {
    const store = new MemoryStore();
    const api = new ApiServer({ store, auth: new TokenAuth([{ name: 'ops', token: ADMIN, admin: true }]), webRoot: null });
    const { url } = await api.listen(0, '127.0.0.1');
    const s = sse(`${url}/api/v1/watch?sse=1`, { Authorization: `Bearer ${ADMIN}` }, () => false);
    await new Promise((r) => setTimeout(r, 50));
    await api.close();
    assert.equal((await s).ended, true);
    await store.close();
  });
});
