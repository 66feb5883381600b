/**
 * The stream handling that the IQ receivers (wifi-rx, lte-cellsearch) share: IQ frames are
 * parsed and consumed (every slot dropped: a receiver is a sink), appended to a per-stream sample
 * buffer with per-stream detector state, each stream touched by the batch is scanned once after
 * the batch, and results are kept (oldest dropped past `maxResults`) and optionally emitted as
 * frames on a second port, `results`, once per batch.
 *
 * @example
 * class MyRx extends IqStreamReceiver<MyState, MyResult> {
 *   protected readonly c = { ...receiverCounters(), decoded: 0 };
 *   constructor(readonly cfg: MyConfig) { super(cfg, 16384, 4096); }
 *   protected fresh(): MyState { return { pos: 0 }; }
 *   protected restart(st: MyState): void { st.pos = 0; }
 *   protected scan(s: StreamBuffer, st: MyState): void { ... this.keep(result); }
 * }
 */
import type { Batch } from '../../packet/pool.js';
import type { Counters, PortDecl, ProcessContext } from '../contract.js';
import { IQ_FOREIGN, IQ_OK, IqHeader, emitResult, parseIqHeader } from './iq.js';
import { StreamBuffer, StreamTable } from './stream.js';

/** The configuration every receiver has. */
export interface ReceiverConfig {
  readonly maxStreams: number;
  readonly maxResults: number;
  /** Also emit each result as a frame (EtherType 0x88B6, JSON) on a second port, `results`. */
  readonly resultsPort: boolean;
}

/** The counters every receiver keeps (a receiver adds its own). */
export interface ReceiverCounters {
  in: number;
  consumed: number;
  dropped: number;
  malformed: number;
  foreign: number;
  streamsFull: number;
  gaps: number;
  samples: number;
  resultsDropped: number;
  resultFrames: number;
  resultFramesLost: number;
}

/**
 * A receiver's ports: `in`, and `results` when results are emitted as frames.
 *
 * @example
 * receiverPorts(true); // [{ name: 'in' }, { name: 'results' }]
 */
export function receiverPorts(resultsPort: boolean): PortDecl[] {
  return resultsPort ? [{ name: 'in' }, { name: 'results' }] : [{ name: 'in' }];
}

/** Base of the IQ receivers; see the module comment. */
export abstract class IqStreamReceiver<St, R extends object> {
  readonly ports: readonly PortDecl[];
  protected readonly table: StreamTable;
  protected readonly st = new Map<number, St>();
  protected readonly res: R[] = [];
  private readonly outbox: object[] = [];
  private readonly h = new IqHeader();
  private readonly dirty: StreamBuffer[] = [];
  protected abstract readonly c: ReceiverCounters;

  /** `capacity`: samples a stream buffers; `maxFrame`: most samples one IQ frame may carry. */
  constructor(private readonly rcfg: ReceiverConfig, private readonly capacity: number, private readonly maxFrame: number) {
    this.ports = receiverPorts(rcfg.resultsPort);
    this.table = new StreamTable(rcfg.maxStreams, capacity);
  }

  /** Detector state of a new stream. */
  protected abstract fresh(): St;
  /** Resets a stream's detector state after a gap in its samples. */
  protected abstract restart(st: St): void;
  /** Scans a stream's buffer, keeps results, discards samples no longer needed. */
  protected abstract scan(s: StreamBuffer, st: St): void;

  process(port: number, batch: Batch, ctx: ProcessContext): void {
    void port;
    const { pool, out } = ctx;
    const c = this.c;
    const h = this.h;
    c.in += batch.count;
    for (let i = 0; i < batch.count; i++) {
      const pr = parseIqHeader(pool.bytes, batch.offs[i]!, batch.lens[i]!, h);
      out.drop(batch.slots[i]!);
      if (pr !== IQ_OK) {
        if (pr === IQ_FOREIGN) c.foreign++;
        else c.malformed++;
        c.dropped++;
        continue;
      }
      const s = this.table.get(h.streamId);
      if (!s || h.count > this.maxFrame) {
        if (!s) c.streamsFull++;
        else c.malformed++;
        c.dropped++;
        continue;
      }
      let st = this.st.get(h.streamId);
      if (!st) {
        st = this.fresh();
        this.st.set(h.streamId, st);
      }
      if (s.len + h.count > this.capacity) this.scan(s, st);
      if (s.append(h, pool.view, pool.bytes)) {
        c.gaps++;
        this.restart(st);
      }
      c.consumed++;
      c.samples += h.count;
      if (!this.dirty.includes(s)) this.dirty.push(s);
    }
    for (const s of this.dirty) this.scan(s, this.st.get(s.id)!);
    this.dirty.length = 0;
    if (this.outbox.length) {
      for (const r of this.outbox) {
        if (emitResult(ctx, 1, r)) c.resultFrames++;
        else c.resultFramesLost++;
      }
      this.outbox.length = 0;
    }
  }

  /** Keeps a result (dropping the oldest past `maxResults`) and queues it for the `results` port. */
  protected keep(r: R): void {
    if (this.res.length >= this.rcfg.maxResults) {
      this.res.shift();
      this.c.resultsDropped++;
    }
    this.res.push(r);
    if (this.rcfg.resultsPort) this.outbox.push(r);
  }

  /**
   * Results, oldest first (all streams; filter by `stream`).
   *
   * @example
   * rx.results().filter((r) => r.stream === 2);
   */
  results(): R[] {
    return this.res.slice();
  }

  counters(): Counters {
    return { ...this.c, streams: this.table.size };
  }
}
