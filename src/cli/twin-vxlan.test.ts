// `swnet twin` fed by a VXLAN mirror on 127.0.0.1 (one socket, three VNIs): a router "device"
// without its route to 10.2.0.0/16 is reported as a route divergence on SIGINT at the latest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { udpFrame } from '../packet/frames.js';
import { VXLAN_HLEN, buildVxlan } from '../packet/vxlan.js';
import { Harness } from '../functions/testing.js';
import { createFunction } from '../functions/registry.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const MAC = { h1: '02:00:00:00:01:02', r0: '02:00:00:00:01:01', r1: '02:00:00:00:02:01', h2: '02:00:00:00:02:02' };
const config = (routes: boolean): unknown => ({
  interfaces: [{ name: 'r0', mac: MAC.r0, addresses: ['10.0.1.1/24'] }, { name: 'r1', mac: MAC.r1, addresses: ['10.0.2.1/24'] }],
  routes: routes ? [{ prefix: '10.2.0.0/16', via: '10.0.2.2' }] : [],
  neighbors: [{ interface: 'r0', address: '10.0.1.2', mac: MAC.h1 }, { interface: 'r1', address: '10.0.2.2', mac: MAC.h2 }],
});

async function freePort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const p = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

test('swnet twin: follows a VXLAN mirror and reports a lost route', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'swtwv-'));
  const port = await freePort();
  writeFileSync(join(dir, 'r.yaml'), JSON.stringify(config(true)));
  const ep = `vxlan:127.0.0.1:${port}`;
  const c = spawn(process.execPath, [MAIN, 'twin', '--function', 'router', '--config', join(dir, 'r.yaml'), '--in', `r0=${ep}/101`, '--out', `r0=${ep}/200`, '--out', `r1=${ep}/201`, '--json', '--window', '100', '--duration', '10'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((r) => c.on('exit', (code) => r(code)));
  const tx = dgram.createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      c.stderr.on('data', (d: Buffer) => { err += d.toString(); if (err.includes('following VXLAN')) resolve(); });
      c.on('exit', () => reject(new Error(`swnet twin exited: ${err}`)));
    });
    const bad = new Harness(createFunction('router', config(false)));
    const send = (vni: number, f: Uint8Array): Promise<void> => {
      const dg = Buffer.alloc(VXLAN_HLEN + f.length);
      buildVxlan(dg, 0, vni);
      dg.set(f, VXLAN_HLEN);
      return new Promise((r) => tx.send(dg, port, '127.0.0.1', () => r()));
    };
    await send(101, new Uint8Array(3)); // too short: counted, dropped
    for (let i = 0; i < 20; i++) {
      const f = udpFrame({ srcMac: MAC.h1, dstMac: MAC.r0, src: '10.0.1.2', dst: '10.2.0.5', srcPort: 5000, dstPort: 6000, id: i, payload: new Uint8Array(20).fill(i) });
      await send(101, f);
      for (const s of bad.run(0, [f]).sent) await send(s.port === 0 ? 200 : 201, s.bytes);
    }
    await sleep(300);
    c.kill('SIGINT');
    assert.equal(await exited, 0, err);
    const lines = out.trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { phase: string; kind: string; traffic: string; port: string });
    const opened = lines.filter((l) => l.phase === 'open');
    assert.equal(opened.length, 1, out);
    assert.equal(opened[0]!.kind, 'route');
    assert.equal(opened[0]!.traffic, '10.2.0.0/16');
    assert.equal(opened[0]!.port, 'r1');
    assert.match(err, /1 malformed/);
  } finally {
    tx.close();
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
