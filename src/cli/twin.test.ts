// `swnet twin` on captures: a router "device" that lost its route to 10.2.0.0/16 halfway
// through; the twin, following the captures, reports it once with the prefix and the delay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { udpFrame } from '../packet/frames.js';
import { PcapWriter } from '../packet/pcap.js';
import { LINKTYPE_ETHERNET } from '../packet/capture.js';
import { Harness } from '../functions/testing.js';
import { createFunction } from '../functions/registry.js';
import { openStore } from '../control/store/open.js';
import { listEvents } from '../control/events.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const MAC = { h1: '02:00:00:00:01:02', r0: '02:00:00:00:01:01', r1: '02:00:00:00:02:01', h2: '02:00:00:00:02:02' };
const config = (routes: boolean): unknown => ({
  interfaces: [{ name: 'r0', mac: MAC.r0, addresses: ['10.0.1.1/24'] }, { name: 'r1', mac: MAC.r1, addresses: ['10.0.2.1/24'] }],
  routes: routes ? [{ prefix: '10.2.0.0/16', via: '10.0.2.2' }] : [],
  neighbors: [{ interface: 'r0', address: '10.0.1.2', mac: MAC.h1 }, { interface: 'r1', address: '10.0.2.2', mac: MAC.h2 }],
});

test('swnet twin: follows captures and prints the divergence of a device that lost a route', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'swtwc-'));
  try {
    writeFileSync(join(dir, 'r.yaml'), JSON.stringify(config(true)));
    const T0 = 1_700_000_000_000_000_000n;
    const ins = PcapWriter.create(join(dir, 'in0.pcap'), { linkType: LINKTYPE_ETHERNET, nanosecond: true });
    const o0 = PcapWriter.create(join(dir, 'out0.pcap'), { linkType: LINKTYPE_ETHERNET, nanosecond: true });
    const o1 = PcapWriter.create(join(dir, 'out1.pcap'), { linkType: LINKTYPE_ETHERNET, nanosecond: true });
    const good = new Harness(createFunction('router', config(true)));
    const bad = new Harness(createFunction('router', config(false)));
    for (let i = 0; i < 200; i++) {
      const f = udpFrame({ srcMac: MAC.h1, dstMac: MAC.r0, src: '10.0.1.2', dst: '10.2.0.5', srcPort: 5000, dstPort: 6000, id: i, payload: new Uint8Array(20).fill(i) });
      const t = T0 + BigInt(i) * 5_000_000n; // every 5 ms; the fault from frame 100 (t = 500 ms)
      ins.write(0, t, f);
      for (const s of (i < 100 ? good : bad).run(0, [f]).sent) (s.port === 0 ? o0 : o1).write(0, t + 100_000n, s.bytes);
    }
    for (const w of [ins, o0, o1]) w.close();
    const r = spawnSync(process.execPath, [MAIN, 'twin', '--function', 'router', '--config', join(dir, 'r.yaml'), '--in', `r0=${join(dir, 'in0.pcap')}`, '--out', `r0=${join(dir, 'out0.pcap')}`, '--out', `r1=${join(dir, 'out1.pcap')}`, '--json', '--window', '20'], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { phase: string; kind: string; traffic: string; frames: number; firstTs: number; reportedAt: number; diagnosis: string });
    assert.deepEqual(lines.map((l) => `${l.phase} ${l.kind} ${l.traffic}`), ['open route 10.2.0.0/16', 'close route 10.2.0.0/16']);
    assert.equal(lines[0]!.firstTs, 1_700_000_000_500);
    // The window (20 ms) and at most one frame interval (5 ms): the clock moves with the captures.
    assert.ok(lines[0]!.reportedAt - lines[0]!.firstTs <= 25, String(lines[0]!.reportedAt - lines[0]!.firstTs));
    assert.equal(lines[1]!.frames, 100);
    assert.match(lines[1]!.diagnosis, /^device dropped 100 frames to 10\.2\.0\.0\/16 .*a missing or wrong route$/);
    assert.match(r.stderr, /matched 100, device dropped 100, device sent unexpected 0/);
    // The same run with --network records the divergence as a Warning event on that network.
    const ev = spawnSync(process.execPath, [MAIN, 'twin', '--function', 'router', '--config', join(dir, 'r.yaml'), '--in', `r0=${join(dir, 'in0.pcap')}`, '--out', `r0=${join(dir, 'out0.pcap')}`, '--out', `r1=${join(dir, 'out1.pcap')}`, '--json', '--window', '20', '--network', 'edge', '--namespace', 'lab', '--store', `sqlite:${join(dir, 'store')}`], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(ev.status, 0, ev.stderr);
    const store = await openStore({ store: `sqlite:${join(dir, 'store')}` });
    try {
      const events = await listEvents(store, { namespace: 'lab' });
      const twinEvents = events.filter((e) => e.reason === 'TwinDivergence');
      assert.ok(twinEvents.length >= 1, JSON.stringify(events));
      assert.equal(twinEvents[0]!.type, 'Warning');
      assert.deepEqual([twinEvents[0]!.involvedObject.kind, twinEvents[0]!.involvedObject.name], ['SoftwareNetwork', 'edge']);
      assert.match(twinEvents[0]!.message, /10\.2\.0\.0\/16/);
    } finally {
      await store.close();
    }
    const bad2 = spawnSync(process.execPath, [MAIN, 'twin', '--function', 'router', '--config', join(dir, 'r.yaml'), '--in', `eth9=${join(dir, 'in0.pcap')}`, '--out', `r1=${join(dir, 'out1.pcap')}`], { encoding: 'utf8' });
    assert.equal(bad2.status, 2);
    assert.match(bad2.stderr, /no port 'eth9'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
