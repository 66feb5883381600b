/**
 * Worker thread of a live twin feed: reads a capture that is still being written (a FIFO that
 * tcpdump or dumpcap writes with `-w`) with our streaming reader, whose reads block, and posts
 * the frames to the main thread in batches: a batch leaves as soon as the reader's window holds
 * no further byte (the next read would block) or it has MAX_BATCH frames.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ByteSource, type CaptureReader } from '../../packet/capture.js';
import { PcapReader, isPcapMagic } from '../../packet/pcap.js';
import { PcapngReader, isPcapngMagic } from '../../packet/pcapng.js';
import { MAX_BATCH } from '../../packet/pool.js';

/** A batch of frames: bytes back to back, with lengths and capture times (ms since the epoch). */
export interface FeedMessage {
  readonly bytes?: Uint8Array;
  readonly lens?: Int32Array;
  readonly ts?: Float64Array;
  readonly count?: number;
  /** The reader's window held nothing more: the worker now waits for the capturer (caught up). */
  readonly drained?: boolean;
  readonly end?: true;
  readonly error?: string;
}

function run(path: string): void {
  const port = parentPort;
  if (port === null) return;
  const src = ByteSource.fromFile(path, 1 << 16);
  let reader: CaptureReader;
  try {
    if (!src.ensure(4)) { port.postMessage({ end: true }); return; }
    const head = src.bytes(0, 4);
    if (isPcapngMagic(head)) reader = new PcapngReader(src);
    else if (isPcapMagic(head)) reader = new PcapReader(src);
    else throw new Error(`${path}: not a pcap or pcapng stream`);
  } catch (e) {
    port.postMessage({ error: e instanceof Error ? e.message : String(e) });
    src.close();
    return;
  }
  let bytes = new Uint8Array(1 << 18);
  let lens = new Int32Array(MAX_BATCH);
  let ts = new Float64Array(MAX_BATCH);
  let count = 0;
  let used = 0;
  const flush = (): void => {
    if (count === 0) return;
    const msg: FeedMessage = { bytes: bytes.slice(0, used), lens, ts, count, drained: src.available === 0 };
    port.postMessage(msg, [(msg.bytes as Uint8Array).buffer as ArrayBuffer, lens.buffer as ArrayBuffer, ts.buffer as ArrayBuffer]);
    lens = new Int32Array(MAX_BATCH);
    ts = new Float64Array(MAX_BATCH);
    count = 0;
    used = 0;
  };
  try {
    for (;;) {
      const rec = reader.next();
      if (count === 0 && rec !== null) port.postMessage({ drained: false });
      if (rec === null) break;
      const n = rec.data.length;
      if (used + n > bytes.length) { flush(); if (n > bytes.length) bytes = new Uint8Array(n); }
      bytes.set(rec.data, used);
      used += n;
      lens[count] = n;
      ts[count] = Number(rec.tsNs / 1000n) / 1000;
      count++;
      if (count === MAX_BATCH || src.available === 0) flush();
    }
    flush();
    port.postMessage({ end: true });
  } catch (e) {
    flush();
    port.postMessage({ error: e instanceof Error ? e.message : String(e) });
  } finally {
    reader.close();
  }
}

run((workerData as { path: string }).path);
