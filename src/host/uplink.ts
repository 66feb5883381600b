/**
 * A VXLAN uplink (RFC 7348) to a real network over a UDP socket (node:dgram): each VNI is bound
 * to one attachment of one software network and to the remote tunnel endpoint(s) to send to —
 * as a Linux `vxlan` device with `remote` (or a static FDB). Interoperates with the kernel's
 * vxlan driver: 8-byte header with the I flag, 24-bit VNI, the inner Ethernet frame without FCS.
 *
 * Receive: a datagram shorter than header + Ethernet header, without the I flag, or with a VNI
 * this uplink does not carry is counted and dropped (RFC 7348 §4: an unknown VNI is dropped).
 * Only the outer header is read: a VXLAN packet inside the inner frame is payload for the
 * network it arrived on, never decapsulated again (no VXLAN-in-VXLAN escape to another VNI).
 * Received frames are copied into domain 0's pool and queued per attachment; `drain` hands
 * them to the bridge in batches.
 *
 * Send: each remote endpoint gets a UDP socket of its own, bound to the uplink's address on a
 * port the system picks and connected to the remote (RFC 7348 §5: the outer source port is free,
 * commonly a hash), so a datagram skips the per-send address parsing and the kernel's route
 * lookup (~16 % of a loopback send); until it is connected, frames leave by the main socket.
 *
 * @example
 * const up = await VxlanUplink.open({ address: '10.88.0.1', port: 4789 }, pool);
 * up.bindVni(100, attachmentId, [{ address: '10.88.0.2', port: 4789 }]);
 * up.drain((att, batch) => host.forward(att, batch));
 * up.send(100, batch);  // encapsulates in the slots' headroom and sends
 */
import dgram from 'node:dgram';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { isIP } from 'node:net';
import { Batch, MAX_BATCH, type PacketPool } from '../packet/pool.js';
import { VXLAN_FLAG_I, VXLAN_HLEN, buildVxlan } from '../packet/vxlan.js';

export interface UplinkInit {
  /** Local address to bind (an address of this host, e.g. a veth's). */
  address: string;
  /** UDP port; 0 = chosen by the system (see `port` once open). Default 4789 (IANA). */
  port?: number;
}

export interface UplinkRemote {
  address: string;
  port: number;
}

export interface UplinkCounters {
  rxPackets: number;
  txPackets: number;
  /** Datagrams dropped: too short, no I flag, unknown VNI, pool exhausted, send error. */
  rxShort: number;
  rxNoFlag: number;
  rxUnknownVni: number;
  rxNoBuffer: number;
  txErrors: number;
}

/**
 * dgram's address lookup with IP literals answered at once: dns.lookup answers even a literal on
 * the next tick, so every datagram sent to an address (not a connected socket) cost a deferral
 * and a closure before its sendto. Names still go to dns.lookup.
 *
 * @example
 * const sock = dgram.createSocket({ type: 'udp4', lookup: literalLookup });
 */
export function literalLookup(host: string, options: LookupOneOptions | number, cb: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void {
  const f = isIP(host);
  if (f !== 0) cb(null, host, f);
  else dnsLookup(host, typeof options === 'number' ? { family: options } : options, cb);
}

export class UplinkError extends Error {
  override readonly name = 'UplinkError';
}

/** A remote endpoint's connected send socket (`sock` once connected), shared by the VNIs that send to it. */
interface Peer {
  readonly address: string;
  readonly port: number;
  sock: dgram.Socket | undefined;
  readonly raw: dgram.Socket;
  refs: number;
}

interface VniBinding {
  attachment: number;
  remotes: UplinkRemote[];
  peers: Peer[];
  pending: Batch;
  /** Frames of this VNI refused for want of a slot (its share of rxNoBuffer). */
  noBuffer: number;
}

export class VxlanUplink {
  private readonly vnis = new Map<number, VniBinding>();
  private readonly c: UplinkCounters = { rxPackets: 0, txPackets: 0, rxShort: 0, rxNoFlag: 0, rxUnknownVni: 0, rxNoBuffer: 0, txErrors: 0 };
  private readonly ready: VniBinding[] = [];
  private readonly peers = new Map<string, Peer>();
  private closed = false;
  /** Called when frames are waiting (domain 0's pump may be asleep). */
  onFrames: (() => void) | undefined;

  private constructor(
    private readonly sock: dgram.Socket,
    readonly address: string,
    readonly port: number,
    private readonly pool: PacketPool,
  ) {
    sock.on('message', (msg) => this.onMessage(msg));
  }

  /** One send callback for every datagram (no closure per datagram). */
  private readonly sent = (e: Error | null): void => {
    if (e) this.c.txErrors++;
  };

  /** Binds the socket; rejects with UplinkError if the address or port is unusable. */
  static open(init: UplinkInit, pool: PacketPool): Promise<VxlanUplink> {
    const type = init.address.includes(':') ? 'udp6' : 'udp4';
    const sock = dgram.createSocket({ type, reuseAddr: false, lookup: literalLookup });
    return new Promise((resolve, reject) => {
      sock.once('error', (e) => reject(new UplinkError(`uplink ${init.address}:${init.port ?? 4789}: ${e.message}`)));
      sock.bind(init.port ?? 4789, init.address, () => {
        sock.removeAllListeners('error');
        sock.on('error', () => undefined);
        // Room for bursts while domain 0's thread is busy (the kernel caps it at net.core.rmem_max/wmem_max).
        try {
          sock.setRecvBufferSize(4 << 20);
          sock.setSendBufferSize(4 << 20);
        } catch {
          // Keep the system's default.
        }
        resolve(new VxlanUplink(sock, init.address, sock.address().port, pool));
      });
    });
  }

  /** Carries `vni` (24 bits) for bridge attachment `attachment`, sending to `remotes`. */
  bindVni(vni: number, attachment: number, remotes: UplinkRemote[]): void {
    if (!Number.isInteger(vni) || vni < 0 || vni > 0xffffff) throw new UplinkError(`VNI must be a 24-bit integer, got ${vni}`);
    if (this.vnis.has(vni)) throw new UplinkError(`VNI ${vni} is already bound on ${this.address}:${this.port}`);
    this.vnis.set(vni, { attachment, remotes: [...remotes], peers: remotes.map((r) => this.peer(r)), pending: new Batch(MAX_BATCH), noBuffer: 0 });
  }

  /** The send socket of `r` (one per endpoint, opened on first use). */
  private peer(r: UplinkRemote): Peer {
    const key = `${r.address}|${r.port}`;
    let p = this.peers.get(key);
    if (!p) {
      const raw = dgram.createSocket({ type: r.address.includes(':') ? 'udp6' : 'udp4', lookup: literalLookup });
      const peer: Peer = { address: r.address, port: r.port, sock: undefined, raw, refs: 0 };
      p = peer;
      this.peers.set(key, peer);
      // An unusable endpoint (another family, no route) keeps using the main socket.
      raw.on('error', () => undefined);
      try {
        raw.bind(0, this.address, () => {
          if (this.peers.get(key) !== peer) return;
          try {
            raw.setSendBufferSize(4 << 20);
          } catch {
            // The system's size.
          }
          raw.connect(r.port, r.address, () => {
            if (this.peers.get(key) === peer) peer.sock = raw;
          });
        });
      } catch {
        // Stays on the main socket.
      }
    }
    p.refs++;
    return p;
  }

  private unref(ps: readonly Peer[]): void {
    for (const p of ps) {
      if (--p.refs > 0) continue;
      this.peers.delete(`${p.address}|${p.port}`);
      p.sock = undefined;
      try {
        p.raw.close();
      } catch {
        // Not yet bound: closed by the runtime when it is.
      }
    }
  }

  /**
   * Re-points a bound VNI to other remote endpoint(s) (the peer function moved to another
   * server): the binding, its attachment and the frames waiting on it stay.
   *
   * @example
   * up.setRemotes(100, [{ address: '10.88.0.3', port: 4789 }]);
   */
  setRemotes(vni: number, remotes: UplinkRemote[]): void {
    const b = this.vnis.get(vni);
    if (!b) throw new UplinkError(`VNI ${vni} is not bound on ${this.address}:${this.port}`);
    const old = b.peers;
    b.remotes = [...remotes];
    b.peers = remotes.map((r) => this.peer(r));
    this.unref(old);
  }

  /** The remote endpoints of a bound VNI (undefined if unbound). */
  remotesOf(vni: number): readonly UplinkRemote[] | undefined {
    return this.vnis.get(vni)?.remotes;
  }

  /** Frames received for a bound VNI but dropped for want of a slot (0 when unbound). */
  droppedOf(vni: number): number {
    return this.vnis.get(vni)?.noBuffer ?? 0;
  }

  unbindVni(vni: number): void {
    const b = this.vnis.get(vni);
    if (!b) return;
    for (let k = 0; k < b.pending.count; k++) this.pool.release(b.pending.slots[k] as number);
    this.vnis.delete(vni);
    this.unref(b.peers);
  }

  private onMessage(msg: Buffer): void {
    if (msg.length < VXLAN_HLEN + 14) {
      this.c.rxShort++;
      return;
    }
    if (((msg[0] as number) & VXLAN_FLAG_I) === 0) {
      this.c.rxNoFlag++;
      return;
    }
    const vni = ((msg[4] as number) << 16) | ((msg[5] as number) << 8) | (msg[6] as number);
    const b = this.vnis.get(vni);
    if (!b) {
      this.c.rxUnknownVni++;
      return;
    }
    if (b.pending.full) {
      this.c.rxNoBuffer++;
      b.noBuffer++;
      return;
    }
    const slot = this.pool.alloc();
    if (slot < 0) {
      this.c.rxNoBuffer++;
      b.noBuffer++;
      return;
    }
    const off = this.pool.frameOffset(slot);
    const len = Math.min(msg.length - VXLAN_HLEN, this.pool.mtu);
    this.pool.bytes.set(msg.subarray(VXLAN_HLEN, VXLAN_HLEN + len), off);
    if (b.pending.count === 0) this.ready.push(b);
    b.pending.push(slot, off, len);
    this.c.rxPackets++;
    this.onFrames?.();
  }

  /** Hands every queued received batch to `to(attachment, batch)`; the callee owns the slots. */
  drain(to: (attachment: number, batch: Batch) => void): number {
    let n = 0;
    for (const b of this.ready) {
      n += b.pending.count;
      to(b.attachment, b.pending);
      b.pending.clear();
    }
    this.ready.length = 0;
    return n;
  }

  /**
   * Encapsulates each frame of `batch` with `vni` (the 8-byte header goes in the slot's
   * headroom, no copy of the frame) and sends it to every remote of the VNI. The slots stay the
   * caller's (the socket copies the datagram before `send` returns its work to libuv).
   */
  send(vni: number, batch: Batch): void {
    const b = this.vnis.get(vni);
    if (!b || this.closed) return;
    const buf = Buffer.from(this.pool.buffer);
    for (let k = 0; k < batch.count; k++) {
      const off = batch.offs[k] as number;
      const len = batch.lens[k] as number;
      const start = off - VXLAN_HLEN;
      if (start < this.pool.slotStart(batch.slots[k] as number)) {
        this.c.txErrors++;
        continue;
      }
      buildVxlan(this.pool.bytes, start, vni);
      // A copy per datagram: libuv may send after this call returns, when the slot is reused.
      const dg = Buffer.allocUnsafe(len + VXLAN_HLEN);
      buf.copy(dg, 0, start, off + len);
      for (const p of b.peers) {
        if (p.sock) p.sock.send(dg, this.sent);
        else this.sock.send(dg, p.port, p.address, this.sent);
        this.c.txPackets++;
      }
    }
  }

  counters(): UplinkCounters {
    return { ...this.c };
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    for (const vni of [...this.vnis.keys()]) this.unbindVni(vni);
    return new Promise((r) => this.sock.close(() => r()));
  }
}
