import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { HelloEndpoint, helloId, type DownInfo } from './hello.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Blocks the whole event loop (a loaded machine's stall), as a busy process would. */
const stall = (ms: number): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

async function pair(intervalMs: number, o: { onDown?: (id: string, i: DownInfo) => void; onSuspect?: (id: string) => void; onUp?: (id: string) => void } = {}): Promise<{ a: HelloEndpoint; b: HelloEndpoint; close: () => Promise<void> }> {
  const a = await HelloEndpoint.open({ server: 's1', address: '127.0.0.1', port: 0, intervalMs });
  const b = await HelloEndpoint.open({ server: 's2', address: '127.0.0.1', port: 0, intervalMs, ...o });
  return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
}

async function until(what: string, f: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!f()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

test('hello: a silent primary is suspect after 3 intervals and down after 3 more; heard again it is up', async () => {
  const events: string[] = [];
  let info: DownInfo | undefined;
  let downAt = 0;
  const { a, b, close } = await pair(20, { onSuspect: (id) => events.push(`suspect ${id}`), onDown: (id, i) => { events.push(`down ${id}`); info = i; downAt = performance.now(); }, onUp: (id) => events.push(`up ${id}`) });
  try {
    b.watch('default/web/r1', 's1');
    b.watch('default/web/r2', 's1');
    a.advertise(`127.0.0.1:${b.port}`, ['default/web/r1', 'default/web/r2']);
    await until('up', () => b.watched().get('default/web/r1') === 'up' && b.watched().get('default/web/r2') === 'up');
    await sleep(200);
    assert.equal(b.watched().get('default/web/r1'), 'up');
    const t0 = performance.now();
    a.pause();
    await until('down', () => events.filter((e) => e.startsWith('down')).length === 2, 3000);
    const took = downAt - t0;
    // 6 intervals of silence (120 ms, less the part of an interval since the last hello), counted in ticks.
    // Lower bound loose: on a loaded machine ticks run late and the last hello may be read late too.
    assert.ok(took >= 60 && took < 600, `down after ${took.toFixed(0)} ms`);
    assert.deepEqual(events.slice(0, 2).sort(), ['suspect default/web/r1', 'suspect default/web/r2']);
    assert.equal(info?.by, 'silence');
    assert.ok((info?.received ?? 0) >= 5, `received ${info?.received}`);
    a.pause(false);
    await until('up again', () => events.includes('up default/web/r1'));
    assert.equal(b.watched().get('default/web/r1'), 'up');
  } finally {
    await close();
  }
});

test('hello: a slow-but-alive primary (gaps of 4 intervals) and a stalled monitor (10 intervals) are never declared down', async () => {
  const downs: string[] = [];
  const suspects: string[] = [];
  const { a, b, close } = await pair(20, { onDown: (id) => downs.push(id), onSuspect: (id) => suspects.push(id) });
  try {
    b.watch('default/web/r1', 's1');
    a.advertise(`127.0.0.1:${b.port}`, ['default/web/r1']);
    await until('up', () => b.watched().get('default/web/r1') === 'up');
    // The whole process stalls for 200 ms, three times (GC, CPU starvation on a loaded box):
    // hellos queue in the socket unread, ticks fire late. No suspicion may follow.
    for (let i = 0; i < 3; i++) {
      stall(200);
      await sleep(60);
    }
    assert.ok(b.counters.lateTicks >= 3, `late ticks ${b.counters.lateTicks}`);
    assert.deepEqual(suspects, []);
    // The primary's sender is slow: silent 80 ms (4 intervals) out of every 100. Suspect, never down.
    for (let i = 0; i < 6; i++) {
      a.pause();
      await sleep(80);
      a.pause(false);
      await sleep(20);
    }
    await sleep(60);
    assert.ok(suspects.length >= 1, 'a 4-interval gap makes it suspect');
    assert.deepEqual(downs, []);
    assert.equal(b.watched().get('default/web/r1'), 'up');
  } finally {
    await close();
  }
});

test('hello: confirm() takes a suspect down at once; a watch never heard cannot go down', async () => {
  const downs: [string, DownInfo][] = [];
  const { a, b, close } = await pair(10, { onDown: (id, i) => downs.push([id, i]), onSuspect: (id) => b.confirm(id) });
  try {
    b.watch('default/web/r1', 's1');
    b.watch('default/web/never', 's1');
    assert.equal(b.confirm('default/web/r1'), false, 'only a suspect can be confirmed');
    a.advertise(`127.0.0.1:${b.port}`, ['default/web/r1']);
    await until('up', () => b.watched().get('default/web/r1') === 'up');
    a.pause();
    await until('down', () => downs.length === 1, 3000);
    assert.equal(downs[0]?.[0], 'default/web/r1');
    assert.equal(downs[0]?.[1].by, 'confirmed');
    assert.ok((downs[0]?.[1].silentMs ?? 0) >= 30);
    await sleep(100);
    assert.equal(b.watched().get('default/web/never'), 'waiting');
    b.unwatch('default/web/r1');
    assert.equal(b.watched().has('default/web/r1'), false);
  } finally {
    await close();
  }
});

test('hello: one datagram per peer and interval however many functions; untrusted bytes are counted, never thrown', async () => {
  const { a, b, close } = await pair(20);
  const raw = createSocket('udp4');
  try {
    const ids = Array.from({ length: 500 }, (_, i) => `t/n/f${i}`);
    for (const id of ids) b.watch(id, 's1');
    a.advertise(`127.0.0.1:${b.port}`, ids);
    await until('all up', () => [...b.watched().values()].every((s) => s === 'up'));
    const s0 = a.counters.sent;
    await sleep(200);
    const sent = a.counters.sent - s0;
    // 500 ids fit in 2 datagrams (363 each): ~10 intervals × 2, far from 500 per interval.
    assert.ok(sent >= 8 && sent <= 40, `sent ${sent}`);
    // Another sender advertising a watched id is not the primary: ignored.
    const c = await HelloEndpoint.open({ server: 's9', address: '127.0.0.1', port: 0, intervalMs: 20 });
    c.advertise(`127.0.0.1:${b.port}`, ['t/n/f1']);
    await until('unknown counted', () => b.counters.unknown > 0);
    await c.close();
    const m0 = b.counters.malformed;
    const good = Buffer.alloc(24);
    good.writeUInt32BE(0x5357484c, 0);
    good.writeUInt8(1, 4);
    good.writeUInt16BE(1, 6);
    good.writeUInt32BE(helloId('s1'), 8);
    const bad = [Buffer.alloc(0), Buffer.from('hello'), Buffer.alloc(19), Buffer.concat([good.subarray(0, 6), Buffer.from([0xff, 0xff]), good.subarray(8)]), Buffer.from(good).fill(7, 4, 5)];
    for (const d of bad) raw.send(d, b.port, '127.0.0.1');
    await until('malformed counted', () => b.counters.malformed - m0 === bad.length);
    assert.throws(() => a.advertise('nowhere', ['x']), { name: 'HelloError' });
    await assert.rejects(HelloEndpoint.open({ server: 's', address: '127.0.0.1', port: 0, intervalMs: 0 }), { name: 'HelloError' });
  } finally {
    raw.close();
    await close();
  }
});

test('hello: probe() finds a closed port gone (ICMP port unreachable) and a live endpoint, however busy, not', async () => {
  const { a, b, close } = await pair(20);
  try {
    const gone = await HelloEndpoint.open({ server: 's3', address: '127.0.0.1', port: 0, intervalMs: 20 });
    const port = gone.port;
    await gone.close();
    assert.equal(await a.probe(`127.0.0.1:${port}`), 'gone');
    assert.equal(await a.probe(`127.0.0.1:${b.port}`), 'unknown');
    const r0 = b.counters.received;
    assert.equal(b.counters.malformed, 0, 'a probe is no malformed datagram');
    assert.equal(b.counters.received, r0);
    await assert.rejects(a.probe('no-port'), { name: 'HelloError' });
  } finally {
    await close();
  }
});
