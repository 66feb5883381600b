import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tcpFrame, udpFrame } from '../packet/frames.js';
import type { Plain } from '../functions/contract.js';
import { FLOW_BUCKETS, flowBucket, flowKeyOfFrame } from '../functions/lib/flowkey.js';
import { HostServer } from './hostserver.js';
import { Partition, PartitionError } from './partition.js';
import { flowAddress, PARTITIONED_NAT, partitionBed, tcpThroughNat } from './partition-bed.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Row {
  orig: { src: string; sport: number; dst: string; dport: number };
}
const connections = (st: Plain[][]): Row[] => ((st[0]?.[0] as { connections?: Row[] } | null)?.connections ?? []) as Row[];

test('partition: a firewall on 2 → 3 → 4 → 2 instances under numbered UDP flows: each flow on one instance, ~1/N of the buckets move, no frame lost, duplicated or reordered', async () => {
  const bed = await partitionBed({ replicas: 2 });
  try {
    bed.startSource({ kpps: 10, flows: 128 });
    await sleep(300);
    const recs = [];
    for (const n of [3, 4, 2]) {
      recs.push(await bed.partition.resize(n));
      await sleep(200);
    }
    // Each flow's connection is in exactly one instance: the one owning its bucket.
    const states = await Promise.all(bed.partition.domains().map((d) => d.domain.exportState()));
    const where = new Map<number, number[]>();
    states.forEach((st, inst) => {
      for (const c of connections(st)) {
        const f = tcpLikeKey(c);
        where.set(f, [...(where.get(f) ?? []), inst]);
      }
    });
    assert.equal(where.size, 128, 'one connection per flow');
    for (const [k, insts] of where) {
      assert.equal(insts.length, 1, `flow key ${k} on instances ${insts.join(', ')}`);
      assert.equal(insts[0], bed.partition.ownerOf(flowBucket(k)));
    }
    const r = await bed.finish();
    assert.ok(r.sent > 2000, `${r.sent} sent`);
    assert.deepEqual([r.lost, r.duplicates, r.reordered], [0, 0, 0], JSON.stringify(r));
    assert.deepEqual(bed.host.drops, { unwired: 0, ringFull: 0, queueFull: 0, noBuffer: 0 });
    // Maglev: 2→3 moves ≈ 257/3, 3→4 ≈ 257/4, 4→2 ≈ 257/2 (the two removed instances' buckets).
    const [a, b, c] = recs as [(typeof recs)[0], (typeof recs)[0], (typeof recs)[0]];
    assert.ok(Math.abs(a.moved - FLOW_BUCKETS / 3) < FLOW_BUCKETS * 0.08, `2→3 moved ${a.moved}`);
    assert.ok(Math.abs(b.moved - FLOW_BUCKETS / 4) < FLOW_BUCKETS * 0.08, `3→4 moved ${b.moved}`);
    assert.ok(Math.abs(c.moved - FLOW_BUCKETS / 2) < FLOW_BUCKETS * 0.08, `4→2 moved ${c.moved}`);
    for (const x of recs) assert.ok(x.flows > 0 && x.flows < 128, `${x.from}→${x.to}: ${x.flows} connections moved`);
    const buckets = Object.values(bed.partition.counters().buckets);
    assert.deepEqual(buckets.map((n) => Math.abs(n - FLOW_BUCKETS / 2) <= 1), [true, true]);
    // Traffic stopped, re-partition, then a reply of every flow arrives first: each passes only
    // if its connection moved to the bucket's new instance (the default policy drops strangers).
    const idle = await bed.partition.resize(3);
    assert.ok(idle.flows > 0);
    const before = bed.returned;
    bed.fromWan(Array.from({ length: 128 }, (_, i) => udpFrame({ srcMac: '02:00:00:00:00:02', dstMac: '02:00:00:00:00:01', src: '198.51.100.7', dst: flowAddress(i), srcPort: 9, dstPort: 20000 + i, payload: new Uint8Array(8) })));
    const end = performance.now() + 3000;
    while (bed.returned - before < 128 && performance.now() < end) await sleep(5);
    await sleep(20);
    assert.equal(bed.returned - before, 128, 'replies after the re-partition pass');
  } finally {
    await bed.close();
  }
});

/** The flow key of an exported conntrack row (UDP/TCP over IPv4), as the spreader computes it. */
function tcpLikeKey(c: Row): number {
  const f = tcpFrame({ srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src: c.orig.src, dst: c.orig.dst, srcPort: c.orig.sport, dstPort: c.orig.dport, flags: 2 });
  // The key ignores the protocol's header beyond the ports, but not the protocol number: UDP rows are rebuilt as UDP.
  f[23] = 17;
  return flowKeyOfFrame(f, 0, f.length);
}

test('partition: TCP connections through a partitioned NAT survive re-partitions (2 → 3 → 1): their bindings move with their buckets', async () => {
  const h = new HostServer({ name: 'part-nat', slots: 8192, slotSize: 512 });
  const net = 'natnet';
  const p = await Partition.create({ host: h, network: net, fn: PARTITIONED_NAT, replicas: 2 });
  const t = tcpThroughNat(h, net, p);
  h.start();
  const { n: N, host, port } = t;
  try {
    // Handshake of N connections; the NAT instance that saw each SYN holds its binding.
    const { syns, synacks } = await t.handshake();
    assert.equal(syns.length, N);
    for (const f of syns) assert.deepEqual([...f.subarray(26, 30)], [203, 0, 113, 1]);
    // Each SYN-ACK found its binding and went back to its inside host.
    const seen = new Set<number>();
    for (const f of synacks) {
      const i = port(f, 36) - 40000;
      assert.ok(i >= 0 && i < N);
      assert.equal(`${f[30]}.${f[31]}.${f[32]}.${f[33]}`, host(i));
      seen.add(i);
    }
    assert.equal(seen.size, N);
    // Exchange data both ways after each re-partition; every frame must translate.
    const rounds = await t.roundsThrough([3, 1], (n) => p.resize(n));
    // 2→3 moved some connections, 3→1 moved all that were not on instance 0.
    assert.ok((rounds[0] as number) > 0 && (rounds[0] as number) < N, `2→3 moved ${rounds[0]}`);
    assert.ok((rounds[1] as number) > 0, `3→1 moved ${rounds[1]}`);
    const st = await p.domains()[0]!.domain.exportState();
    assert.equal(connections(st).length, N, 'all bindings on the last instance');
    for (const c of connections(st)) assert.equal((c as unknown as { state: string }).state, 'ESTABLISHED');
    assert.deepEqual(h.drops, { unwired: 0, ringFull: 0, queueFull: 0, noBuffer: 0 });
  } finally {
    await p.close();
    await h.close();
  }
});

test('partition: bad requests are PartitionErrors; a NAT must be configured partitioned', async () => {
  const h = new HostServer({ name: 'part-bad', slots: 1024 });
  try {
    await assert.rejects(Partition.create({ host: h, network: 'n', fn: { name: 'fw', kind: 'firewall', config: {} }, replicas: 0 }), { name: 'PartitionError' });
    await assert.rejects(Partition.create({ host: h, network: 'n', fn: { name: 'nat', kind: 'nat', config: { snat: { addresses: ['203.0.113.1'] } } }, replicas: 2 }), PartitionError);
    await assert.rejects(Partition.create({ host: h, network: 'n', fn: { name: 'fw', kind: 'firewall', config: { bogus: 1 } }, replicas: 1 }), { name: 'ConfigError' });
  } finally {
    await h.close();
  }
});

test('partition: behind the token scheduler (emulated capacity), frames of moving buckets queued there reach their old instance first: no loss across 2 → 3 → 2', async () => {
  const bed = await partitionBed({ replicas: 2, capacityPps: 30_000 });
  try {
    bed.startSource({ kpps: 10, flows: 64 });
    await sleep(300);
    const recs = [await bed.partition.resize(3)];
    await sleep(200);
    recs.push(await bed.partition.resize(2));
    await sleep(200);
    const r = await bed.finish();
    assert.ok(r.sent > 1000);
    assert.deepEqual([r.lost, r.duplicates, r.reordered], [0, 0, 0], JSON.stringify(r));
    assert.deepEqual(bed.host.drops, { unwired: 0, ringFull: 0, queueFull: 0, noBuffer: 0 });
    assert.ok(recs.every((x) => x.flows > 0));
    const net = bed.host.stats()?.networks[0];
    assert.ok(net && net.served > r.sent, 'the frames crossed the scheduler');
  } finally {
    await bed.close();
  }
});

test('partition across two servers (a ServerLink): instances alternate between them; 2 → 3 → 4 → 2 loses, duplicates and reorders nothing', async () => {
  const bed = await partitionBed({ replicas: 2, servers: 2 });
  try {
    bed.startSource({ kpps: 8, flows: 64 });
    await sleep(300);
    const where = (): string[] => bed.partition.domains().map((d) => (bed.hosts[0]?.domainList().includes(d) ? 's1' : 's2'));
    assert.deepEqual(where(), ['s1', 's2']);
    for (const n of [3, 4]) {
      const rec = await bed.partition.resize(n);
      assert.ok(rec.flows > 0);
      await sleep(150);
    }
    assert.deepEqual(where(), ['s1', 's2', 's1', 's2']);
    await bed.partition.resize(2);
    await sleep(150);
    const r = await bed.finish();
    assert.ok(r.sent > 1000);
    assert.deepEqual([r.lost, r.duplicates, r.reordered], [0, 0, 0], JSON.stringify(r));
    for (const h of bed.hosts) assert.deepEqual(h.drops, { unwired: 0, ringFull: 0, queueFull: 0, noBuffer: 0 });
    assert.equal(bed.hosts[1]?.domainList().length, 1);
  } finally {
    await bed.close();
  }
});
