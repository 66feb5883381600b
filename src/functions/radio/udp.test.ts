import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { UdpIqReceiver, sendIqUdp } from './udp.js';
import { impair } from './iq.js';
import { wifiPpdu } from './wifi.js';
import { Harness } from '../testing.js';
import { WifiRx, wifiRxFactory } from '../wifi-rx.js';

test('udp: IQ datagrams on 127.0.0.1 become IQ frames that wifi-rx decodes; junk datagrams are counted', async () => {
  const rx = wifiRxFactory.create({}) as WifiRx;
  const h = new Harness(rx);
  let frames = 0;
  const recv = new UdpIqReceiver({
    onFrames: (fs) => {
      frames += fs.length;
      h.run(0, fs);
    },
  });
  const port = await recv.start(0);
  try {
    const x = impair(wifiPpdu({ rateMbps: 36, length: 777, seed: 1 }), { snrDb: 25, leadSamples: 300, tailSamples: 200, seed: 3 });
    const junk = createSocket('udp4');
    await new Promise<void>((resolve) => junk.send(Buffer.from('not iq'), port, '127.0.0.1', () => resolve()));
    junk.close();
    const sent = await sendIqUdp('127.0.0.1', port, 42, 0, x, 180);
    for (let i = 0; i < 200 && (frames < sent || recv.counters.malformed < 1); i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(frames, sent);
    assert.equal(recv.counters.malformed, 1);
    const res = rx.results();
    assert.equal(res.length, 1);
    assert.deepEqual({ stream: res[0]!.stream, rate: res[0]!.rateMbps, length: res[0]!.length, valid: res[0]!.valid }, { stream: 42, rate: 36, length: 777, valid: true });
  } finally {
    await recv.stop();
  }
});
