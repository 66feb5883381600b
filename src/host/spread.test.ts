// Partition instances on servers reached over real VXLAN/UDP (127.0.0.1), as agents of other
// processes reach each other: in-band markers as barriers, flows' state through a state store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { udpFrame } from '../packet/frames.js';
import type { Plain } from '../functions/contract.js';
import { Partition } from './partition.js';
import { FLOW_BUCKETS } from '../functions/lib/flowkey.js';
import { HostServer } from './hostserver.js';
import { VxlanUplink } from './uplink.js';
import { bitsBuckets, bucketBits, replicaVni, SpreadError, SpreadNode } from './spread.js';
import { flowAddress, PARTITIONED_NAT, partitionBed, tcpThroughNat } from './partition-bed.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('spread: a firewall over 3 servers (VXLAN between them) under numbered UDP flows, 2 → 3 → 1 → 2: ~1/N of the buckets move with their connections, no frame lost, duplicated or reordered', async () => {
  const bed = await partitionBed({ replicas: 2, spread: 2 });
  try {
    assert.deepEqual(bed.partition.placement().map((x) => x.site.split('@')[0]), ['part-s1', 'part-s2']);
    bed.startSource({ kpps: 6, flows: 96 });
    await sleep(400);
    const recs = [];
    for (const n of [3, 1, 2]) {
      recs.push(await bed.spreadResize(n));
      await sleep(250);
    }
    assert.deepEqual(bed.partition.placement().map((x) => x.site.split('@')[0]), ['part-s1', 'part-s2']);
    // Instances removed from a server stopped there.
    assert.deepEqual(bed.spreadNodes[2]?.servedList(), []);
    const r = await bed.finish();
    assert.ok(r.sent > 1500, `${r.sent} sent`);
    assert.deepEqual([r.lost, r.duplicates, r.reordered], [0, 0, 0], JSON.stringify({ r, recs }));
    const [a, b, c] = recs as [(typeof recs)[0], (typeof recs)[0], (typeof recs)[0]];
    assert.ok(Math.abs(a.moved - FLOW_BUCKETS / 3) < FLOW_BUCKETS * 0.08, `2→3 moved ${a.moved}`);
    assert.ok(Math.abs(b.moved - (FLOW_BUCKETS * 2) / 3) < FLOW_BUCKETS * 0.08, `3→1 moved ${b.moved}`);
    assert.ok(Math.abs(c.moved - FLOW_BUCKETS / 2) < FLOW_BUCKETS * 0.08, `1→2 moved ${c.moved}`);
    for (const x of recs) assert.ok(x.flows > 0 && x.flows < 96, `${x.from}→${x.to}: ${x.flows} connections moved`);
    for (const h of bed.hosts) assert.deepEqual(h.drops, { unwired: 0, ringFull: 0, queueFull: 0, noBuffer: 0 }, h.name);
    // Idle, then re-partitioned to 3 (instance 2 on the third server): a reply of every flow
    // passes only where its connection went (the default policy drops strangers).
    const idle = await bed.spreadResize(3);
    assert.ok(idle.flows > 0);
    const before = bed.returned;
    bed.fromWan(Array.from({ length: 96 }, (_, i) => udpFrame({ srcMac: '02:00:00:00:00:02', dstMac: '02:00:00:00:00:01', src: '198.51.100.7', dst: flowAddress(i), srcPort: 9, dstPort: 20000 + i, payload: new Uint8Array(8) })));
    const end = performance.now() + 3000;
    while (bed.returned - before < 96 && performance.now() < end) await sleep(5);
    await sleep(20);
    assert.equal(bed.returned - before, 96, 'replies after the re-partition across servers pass');
    const c0 = bed.spreadNodes[0]?.counters;
    process.stdout.write(`# spread: 2→3 moved ${a.moved} buckets/${a.flows} connections held ${a.held} frames ${a.holdMs.toFixed(1)} ms; 3→1 ${b.moved}/${b.flows} held ${b.held} ${b.holdMs.toFixed(1)} ms; 1→2 ${c.moved}/${c.flows} held ${c.held} ${c.holdMs.toFixed(1)} ms; control frames ${JSON.stringify(c0)}` + '\n');
  } finally {
    await bed.close();
  }
});

test('spread: an instance whose server changes is replaced there, all its buckets moving with their connections', async () => {
  const bed = await partitionBed({ replicas: 2, spread: 2 });
  try {
    bed.startSource({ kpps: 4, flows: 64 });
    await sleep(300);
    // Instance 1 from part-s2 to part-s3: served there, then the partition's site for 1 changes.
    const [front, s2, s3] = bed.spreadNodes as [SpreadNode, SpreadNode, SpreadNode];
    const fw = { name: 'fw', kind: 'firewall', config: { interfaces: [{ name: 'lan' }, { name: 'wan' }], defaultPolicy: 'deny', rules: [{ name: 'lan-out', in: 'lan', action: 'allow' }] } };
    const ep = (n: SpreadNode): { address: string; port: number } => ({ address: n.init.uplink.address, port: n.init.uplink.port });
    await s3.serve('part', fw, 1, ep(front), ['lan', 'wan']);
    const rec = await bed.partition.resize(2, [undefined, front.site('part', 'fw', 1, { server: s3.init.server, remote: ep(s3) })]);
    await s2.unserve('part', 'fw', 1);
    assert.ok(Math.abs(rec.moved - FLOW_BUCKETS / 2) <= 1, `moved ${rec.moved}`);
    assert.ok(rec.flows > 0);
    assert.deepEqual(bed.partition.placement().map((x) => x.site.split('@')[0]), ['part-s1', 'part-s3']);
    await sleep(200);
    const r = await bed.finish();
    assert.deepEqual([r.lost, r.duplicates, r.reordered], [0, 0, 0], JSON.stringify(r));
  } finally {
    await bed.close();
  }
});

test('spread: TCP connections through a partitioned NAT on 3 servers survive 2 → 3 → 1: their bindings move between servers with their buckets', async () => {
  const NAT = PARTITIONED_NAT;
  const hosts = [0, 1, 2].map((i) => new HostServer({ name: `spn-s${i + 1}`, slots: 8192, slotSize: 512 }));
  const ups = await Promise.all(hosts.map((x) => VxlanUplink.open({ address: '127.0.0.1', port: 0 }, x.pool)));
  const flowsByRef = new Map<string, Plain[][]>();
  const state = { put: async (ref: string, f: Plain[][]) => void flowsByRef.set(ref, f), take: async (ref: string) => flowsByRef.get(ref) };
  const nodes = hosts.map((x, i) => new SpreadNode({ host: x, uplink: ups[i] as VxlanUplink, server: x.name, state }));
  for (const x of hosts) x.start();
  const h = hosts[0] as HostServer;
  const net = 'natnet';
  const ep = (i: number): { address: string; port: number } => ({ address: (ups[i] as VxlanUplink).address, port: (ups[i] as VxlanUplink).port });
  const sites = async (n: number): Promise<(ReturnType<SpreadNode['site']> | undefined)[]> => {
    const out: (ReturnType<SpreadNode['site']> | undefined)[] = [undefined];
    for (let k = 1; k < n; k++) {
      await (nodes[k] as SpreadNode).serve(net, NAT, k, ep(0), ['inside', 'outside']);
      out.push((nodes[0] as SpreadNode).site(net, 'nat', k, { server: (hosts[k] as HostServer).name, remote: ep(k) }));
    }
    return out;
  };
  const p = await Partition.create({ host: h, network: net, fn: NAT, replicas: 2, sites: await sites(2) });
  const t = tcpThroughNat(h, net, p);
  const { n: N, port } = t;
  try {
    const { synacks } = await t.handshake();
    assert.equal(new Set(synacks.map((f) => port(f, 36))).size, N);
    assert.ok(Object.values(p.counters().spread).every((n) => n > 0), 'both servers got connections');
    const rounds = await t.roundsThrough([3, 1], async (n) => p.resize(n, await sites(n)));
    assert.ok((rounds[0] as number) > 0 && (rounds[0] as number) < N, `2→3 moved ${rounds[0]}`);
    assert.ok((rounds[1] as number) > 0, `3→1 moved ${rounds[1]}`);
    const st = await p.domains()[0]!.domain.exportState();
    const conns = ((st[0]?.[0] as { connections?: { state: string }[] } | null)?.connections ?? []);
    assert.equal(conns.length, N, 'all bindings back on instance 0, on the first server');
    for (const x of hosts) assert.deepEqual(x.drops, { unwired: 0, ringFull: 0, queueFull: 0, noBuffer: 0 }, x.name);
  } finally {
    await p.close();
    for (const n of nodes) await n.close();
    for (const x of hosts) await x.close();
    for (const u of ups) await u.close();
  }
});

test('spread: a remote instance whose server is gone is not asked for its flows: the re-partition goes on at once, its buckets moving without state (stateLost)', async () => {
  let up = true;
  const bed = await partitionBed({ replicas: 2, spread: 1, alive: () => up });
  try {
    bed.startSource({ kpps: 4, flows: 64 });
    await sleep(300);
    up = false;
    const rec = await bed.spreadResize(1);
    assert.equal(rec.stateLost?.length, 1, JSON.stringify(rec));
    assert.match(rec.stateLost?.[0] ?? '', /part-s2 is gone/);
    assert.ok(rec.holdMs < 1000, `held ${rec.holdMs} ms`);
    assert.equal(rec.flows, 0);
    // The flows go on through instance 0 (the firewall lets them out again, replies follow).
    const r = await bed.finish();
    assert.equal(r.duplicates, 0);
  } finally {
    await bed.close();
  }
});

test('spread: bucket bitmaps round-trip; an unanswered site fails with SpreadError; malformed control frames are dropped, never thrown', async () => {
  const all = Array.from({ length: FLOW_BUCKETS }, (_, i) => i);
  assert.deepEqual(bitsBuckets(bucketBits(all)), all);
  assert.deepEqual(bitsBuckets(bucketBits([0, 5, 256])), [0, 5, 256]);
  assert.equal(bucketBits(all).length, 65);
  assert.notEqual(replicaVni('a/b', 'fw', 1, 's2', 0), replicaVni('a/b', 'fw', 1, 's3', 0));
  const h = new HostServer({ name: 'sp-x', slots: 4096 });
  const up = await VxlanUplink.open({ address: '127.0.0.1', port: 0 }, h.pool);
  h.start();
  try {
    const node = new SpreadNode({ host: h, uplink: up, server: 'sp-x', state: { put: async () => undefined, take: async () => undefined }, retryMs: 20, timeoutMs: 150 });
    // Nobody serves instance 1 at this (unused) endpoint.
    const site = node.site('n', 'fw', 1, { server: 'nobody', remote: { address: '127.0.0.1', port: 9 } });
    await assert.rejects(site.start('fw#1', ['lan', 'wan'], () => undefined), (e: Error) => e.name === 'SpreadError' && /no answer/.test(e.message));
    assert.ok(node.counters.resent >= 3);
    // A served instance receiving garbage control frames by its VNI: dropped, the data frame passes.
    await node.serve('n', { name: 'fw', kind: 'firewall', config: { interfaces: [{ name: 'lan' }, { name: 'wan' }], defaultPolicy: 'allow', rules: [] } }, 1, { address: '127.0.0.1', port: 9 }, ['lan', 'wan']);
    const bad = [new Uint8Array([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x88, 0xb5, 0x53, 0x57, 0x50, 0x43, 0x7b]), new Uint8Array([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x88, 0xb5, 0x53, 0x57, 0x50, 0x43, ...new TextEncoder().encode('{"t":"x","id":"1","bits":"zz"}')])];
    const tx = dgram(up.port);
    for (const f of bad) await tx.send(replicaVni('n', 'fw', 1, 'sp-x', 0), f);
    await tx.send(replicaVni('n', 'fw', 1, 'sp-x', 0), udpFrame({ srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 2, payload: new Uint8Array(4) }));
    const end = performance.now() + 2000;
    const served = node.servedList()[0];
    while ((served?.hd.domain.counters().sent ?? 0) < 1 && performance.now() < end) await sleep(10);
    assert.equal(served?.hd.domain.counters().sent, 1, JSON.stringify([up.counters(), h.drops, served?.hd.domain.counters()]) +  'the data frame reached the instance, the control garbage did not');
    assert.ok(node.counters.controlReceived === 0);
    tx.close();
    assert.equal(await node.unserve('n', 'fw', 1), true);
    assert.ok(new SpreadError('x').name === 'SpreadError');
  } finally {
    await h.close();
    await up.close();
  }
});

/** A UDP sender of VXLAN datagrams to 127.0.0.1:`port`. */
function dgram(port: number): { send(vni: number, frame: Uint8Array): Promise<void>; close(): void } {
  const d = createSocket('udp4');
  return {
    send: (vni, frame) =>
      new Promise((res) => {
        const b = Buffer.alloc(8 + frame.length);
        b[0] = 0x08;
        b[4] = (vni >> 16) & 255;
        b[5] = (vni >> 8) & 255;
        b[6] = vni & 255;
        b.set(frame, 8);
        d.send(b, port, '127.0.0.1', () => res());
      }),
    close: () => d.close(),
  };
}
