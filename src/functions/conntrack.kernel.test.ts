// Real kernel traffic through the firewall and the NAT: a TCP connection between two network
// namespaces is captured, then replayed through a function; half-way its state is exported to
// JSON and imported into a fresh instance, which must carry the connection on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCapture } from '../packet/capfile.js';
import { internetChecksum, sum16 } from '../packet/checksum.js';
import { Capture, VethPair, canUseNetns, have, trafficArgv, waitExit, waitForOutput } from '../testkit/netns.js';
import type { NetworkFunction } from './contract.js';
import { firewallFactory } from './firewall.js';
import { natFactory } from './nat.js';
import { Harness, counter, hex } from './testing.js';

const CAN = canUseNetns() && have('tcpdump');

interface Rec {
  readonly t: number;
  readonly fromA: boolean;
  readonly bytes: Uint8Array;
}

/** Captures one TCP connection (handshake, ~40 kB echoed, close) on a's side of the veth. */
async function captureTcp(): Promise<{ recs: Rec[]; pair: VethPair; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'swfw-'));
  const pair = VethPair.create('swfw');
  try {
    const file = join(dir, 'tcp.pcap');
    const port = 20000 + (process.pid % 20000);
    const cap = await Capture.start(pair.a, pair.ifA, file, 'pcap');
    const srv = pair.spawn(pair.b, trafficArgv('tcp-server', pair.ipB, port));
    await waitForOutput(srv, /ready/);
    const cli = pair.spawn(pair.a, trafficArgv('tcp-client', pair.ipB, port, 1, 40_000));
    assert.equal(await waitExit(cli), 0, 'tcp client finished');
    await waitExit(srv);
    // Give a loaded capturer time to read the last frames (FIN, ACK) out of the kernel.
    await new Promise((res) => setTimeout(res, 500));
    await cap.stop();
    const macA = pair.mac(pair.a, pair.ifA).split(':').map((x) => parseInt(x, 16));
    const recs: Rec[] = [];
    const r = openCapture(file);
    for (const rec of r) {
      const d = rec.data;
      // IPv4 TCP of the connection only (ARP and NDP are not what this test is about).
      if (d.length < 34 || d[12] !== 0x08 || d[13] !== 0x00 || d[23] !== 6) continue;
      recs.push({ t: Number(rec.tsNs / 1000n) / 1000, fromA: macA.every((x, i) => d[6 + i] === x), bytes: d.slice() });
    }
    r.close();
    return { recs, pair, dir };
  } catch (e) {
    pair.destroy();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

let captured: Promise<{ recs: Rec[]; pair: VethPair; dir: string }> | null = null;
function traffic(): Promise<{ recs: Rec[]; pair: VethPair; dir: string }> {
  captured ??= captureTcp().then((c) => {
    // The capture is all the tests need: the namespaces go at once.
    c.pair.destroy();
    rmSync(c.dir, { recursive: true, force: true });
    return c;
  });
  return captured;
}

/** Rewrites an IPv4 address/port in a copy of a TCP frame and recomputes both checksums from scratch. */
function rewrite(f: Uint8Array, field: 'src' | 'dst', addr: number, port: number): Uint8Array {
  const g = f.slice();
  const at = field === 'src' ? 26 : 30;
  g[at] = addr >>> 24;
  g[at + 1] = (addr >>> 16) & 0xff;
  g[at + 2] = (addr >>> 8) & 0xff;
  g[at + 3] = addr & 0xff;
  const hl = (g[14]! & 15) * 4;
  const l4 = 14 + hl;
  const pAt = l4 + (field === 'src' ? 0 : 2);
  g[pAt] = port >>> 8;
  g[pAt + 1] = port & 0xff;
  g[24] = 0;
  g[25] = 0;
  const hc = internetChecksum(g, 14, hl);
  g[24] = hc >>> 8;
  g[25] = hc & 0xff;
  const tl = ((g[16]! << 8) | g[17]!) - hl;
  g[l4 + 16] = 0;
  g[l4 + 17] = 0;
  const tc = internetChecksum(g, l4, tl, sum16(g, 26, 8, 6 + tl));
  g[l4 + 16] = tc >>> 8;
  g[l4 + 17] = tc & 0xff;
  return g;
}

/**
 * Where to cut the connection for the export: in the middle of its data, between the handshake
 * (3 frames) and the first FIN (segmentation offloads may have made the data a few large frames).
 */
function midConnection(recs: readonly Rec[]): number {
  const fin = recs.findIndex((r) => ((r.bytes[14 + ((r.bytes[14]! & 15) * 4) + 13]! & 1) !== 0));
  assert.ok(fin > 3, `data before the first FIN (FIN at ${fin} of ${recs.length})`);
  return Math.max(4, Math.floor((3 + fin) / 2));
}

function replay(h: Harness, recs: readonly Rec[], input: (r: Rec) => Uint8Array): { port: number; bytes: Uint8Array }[][] {
  return recs.map((r) => {
    h.now = r.t;
    return h.run(r.fromA ? 0 : 1, [input(r)]).sent;
  });
}

test('firewall on real kernel TCP: the connection survives export/import into a fresh instance mid-stream', { skip: CAN ? false : 'needs root, iproute2 and tcpdump' }, async () => {
  const { recs } = await traffic();
  assert.ok(recs.length >= 8, `captured ${recs.length} TCP frames`);
  assert.ok(recs.some((r) => !r.fromA) && recs.some((r) => r.fromA));
  const cfg = { interfaces: [{ name: 'a' }, { name: 'b' }], defaultPolicy: 'deny', rules: [{ in: 'a', proto: 'tcp', state: ['new'], action: 'allow' }] };
  const half = midConnection(recs);
  const fw1 = firewallFactory.create(cfg);
  const h1 = new Harness(fw1);
  const out1 = replay(h1, recs.slice(0, half), (r) => r.bytes);
  const state = JSON.parse(JSON.stringify(fw1.exportState())) as { connections: { state: string }[] };
  assert.equal(state.connections.length, 1);
  assert.equal(state.connections[0]!.state, 'ESTABLISHED');
  const fw2 = firewallFactory.create(cfg);
  fw2.importState(state);
  const h2 = new Harness(fw2);
  const out2 = replay(h2, recs.slice(half), (r) => r.bytes);
  // Every frame passes, unchanged, to the other side.
  [...out1, ...out2].forEach((sent, i) => {
    assert.deepEqual(sent.map((s) => [s.port, hex(s.bytes)]), [[recs[i]!.fromA ? 1 : 0, hex(recs[i]!.bytes)]], `frame ${i}`);
  });
  assert.equal(counter(fw2.counters(), 'ruleWalks'), 0, 'the fresh instance knew the connection');
  const end = (fw2.exportState() as { connections: { state: string }[] }).connections[0]?.state;
  // TIME_WAIT after the last ACK; on a loaded machine the capture may miss the last frames, so
  // any closing state the captured frames lead to is accepted.
  assert.ok(['FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE'].includes(String(end)), `final state ${String(end)}`);
  // Without the import the second half from b is dropped (invalid: no connection).
  const h3 = new Harness(firewallFactory.create(cfg));
  const lost = recs.slice(half).filter((r) => !r.fromA).map((r) => h3.run(1, [r.bytes]).sent.length);
  assert.ok(lost.length > 0 && lost.every((n) => n === 0));
});

test('NAT on real kernel TCP: translations are exact (checksums as recomputed) and survive export/import mid-stream', { skip: CAN ? false : 'needs root, iproute2 and tcpdump' }, async () => {
  const { recs } = await traffic();
  const EXT = 0xcb007101; // 203.0.113.1
  const cfg = { interfaces: { inside: 'a', outside: 'b' }, snat: { addresses: ['203.0.113.1'] } };
  const sport = (recs[0]!.bytes[34]! << 8) | recs[0]!.bytes[35]!;
  // b's frames as they would arrive on the NAT's outside: addressed to the external address.
  const outsideOf = (r: Rec): Uint8Array => (r.fromA ? r.bytes : rewrite(r.bytes, 'dst', EXT, sport));
  const half = midConnection(recs);
  const nat1 = natFactory.create(cfg);
  const h1 = new Harness(nat1);
  const out1 = replay(h1, recs.slice(0, half), outsideOf);
  const state = JSON.parse(JSON.stringify(nat1.exportState())) as Parameters<NetworkFunction['importState']>[0];
  const nat2 = natFactory.create(cfg);
  nat2.importState(state);
  const h2 = new Harness(nat2);
  const out2 = replay(h2, recs.slice(half), outsideOf);
  [...out1, ...out2].forEach((sent, i) => {
    const r = recs[i]!;
    // a → b leaves with the external source (port kept); b → a is restored to the kernel's exact frame.
    const want = r.fromA ? rewrite(r.bytes, 'src', EXT, sport) : r.bytes;
    assert.deepEqual(sent.map((s) => [s.port, hex(s.bytes)]), [[r.fromA ? 1 : 0, hex(want)]], `frame ${i}`);
  });
  assert.equal(counter(nat2.counters(), 'snat'), 0, 'no new mapping on the fresh instance');
  assert.ok(counter(nat2.counters(), 'translated') >= recs.length - half);
});
