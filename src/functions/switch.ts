/**
 * Ethernet learning switch (IEEE 802.1D/802.1Q bridge): learns (VLAN, source MAC) → port with
 * ageing, forwards known unicast to one port, floods broadcast, multicast and unknown unicast to
 * every other member of the VLAN. Access ports carry one VLAN untagged; trunk ports carry their
 * allowed VLANs tagged, and the native VLAN (if any) untagged. Independent VLAN learning: the
 * same MAC may sit on different ports in different VLANs.
 *
 * The MAC table is an open-addressing hash table in typed arrays (linear probing, backward-shift
 * deletion), so forwarding allocates nothing; a flooded frame is copied once per extra port.
 */
import type { Batch } from '../packet/pool.js';
import { etherType, vlanVid } from '../packet/ethernet.js';
import { ConfigError, type Counters, type FunctionFactory, type NetworkFunction, type Plain, type PortDecl, type ProcessContext } from './contract.js';
import { arrayOf, formatMac, int, oneOf, parseMac, str, strictObject, type Parse } from './config.js';
import { fmix32 } from './lib/flowhash.js';

const TPID_8021Q = 0x8100;

export interface SwitchPortConfig {
  readonly name: string;
  readonly mode: 'access' | 'trunk';
  /** Access VLAN (access ports). */
  readonly vlan: number;
  /** VLANs allowed tagged (trunk ports). */
  readonly allowed: readonly number[];
  /** VLAN of untagged frames on a trunk; 0 = untagged frames are dropped. */
  readonly native: number;
}

export interface SwitchConfig {
  readonly ports: readonly SwitchPortConfig[];
  readonly ageingMs: number;
  readonly maxMacs: number;
}

const vlanId: Parse<number> = int(1, 4094);

// "10", 10 or "100-199" → list of VLAN ids.
const vlanList: Parse<number[]> = (v, path) => {
  const items = arrayOf<number[]>((x, p) => {
    if (typeof x === 'number') return [vlanId(x, p)];
    const m = typeof x === 'string' ? /^(\d{1,4})-(\d{1,4})$/.exec(x) : null;
    if (!m) throw new ConfigError(p, `expected a VLAN id or a range like "100-199", got ${JSON.stringify(x)}`);
    const a = vlanId(Number(m[1]), p);
    const b = vlanId(Number(m[2]), p);
    if (b < a) throw new ConfigError(p, `empty range ${String(x)}`);
    return Array.from({ length: b - a + 1 }, (_, i) => a + i);
  })(v, path);
  return [...new Set(items.flat())].sort((x, y) => x - y);
};

/**
 * Parses and checks a switch configuration.
 *
 * @example
 * parseSwitchConfig({ ports: [{ name: 'p1', vlan: 10 }, { name: 'up', mode: 'trunk', allowed: ['10-20'], native: 1 }] });
 */
export function parseSwitchConfig(config: unknown): SwitchConfig {
  const o = strictObject(config, '', ['ports', 'ageingMs', 'maxMacs']);
  const ports = o.req(
    'ports',
    arrayOf((v, p): SwitchPortConfig => {
      const po = strictObject(v, p, ['name', 'mode', 'vlan', 'allowed', 'native']);
      const mode = po.opt('mode', oneOf(['access', 'trunk'] as const), 'access');
      if (mode === 'access') {
        if (po.has('allowed')) throw new ConfigError(`${p}.allowed`, 'only for trunk ports');
        if (po.has('native')) throw new ConfigError(`${p}.native`, 'only for trunk ports');
        return { name: po.req('name', str()), mode, vlan: po.opt('vlan', vlanId, 1), allowed: [], native: 0 };
      }
      if (po.has('vlan')) throw new ConfigError(`${p}.vlan`, 'only for access ports (trunks use allowed and native)');
      const allowed = po.opt('allowed', vlanList, Array.from({ length: 4094 }, (_, i) => i + 1));
      const native = po.opt('native', int(0, 4094), 0);
      return { name: po.req('name', str()), mode, vlan: 0, allowed, native };
    }, 1, 1024),
  );
  const names = new Set<string>();
  ports.forEach((p, i) => {
    if (names.has(p.name)) throw new ConfigError(`ports[${i}].name`, `duplicate port name '${p.name}'`);
    names.add(p.name);
  });
  return { ports, ageingMs: o.opt('ageingMs', int(1, 86_400_000), 300_000), maxMacs: o.opt('maxMacs', int(1, 1 << 22), 65536) };
}

/**
 * The switch. Port i of `ports` is configuration port i.
 *
 * @example
 * const sw = switchFactory.create({ ports: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] });
 * sw.process(0, batch, ctx); // learns sources, floods or forwards
 */
export class Switch implements NetworkFunction {
  readonly kind = 'switch';
  readonly ports: readonly PortDecl[];
  private readonly cfg: SwitchConfig;
  // Per port: 0 access / 1 trunk; access VLAN or native VLAN.
  private readonly trunk: Uint8Array;
  private readonly pvid: Uint16Array;
  // allowedTagged[port·4096 + vid] = 1 when the port carries vid (tagged, or untagged if pvid).
  private readonly member: Uint8Array;
  // Ports of each VLAN, for flooding.
  private readonly vlanPorts: Int32Array[];
  // MAC table.
  private cap: number;
  private mask: number;
  private readonly maxCap: number;
  // One slot = 4 words, so a lookup touches one cache line: [vlan << 16 | MAC bits 47..32
  // (0 = empty, as VLANs start at 1), MAC bits 31..0, port, last seen (ms mod 2^32)].
  // Grows by doubling up to 2 × maxMacs, so that memory (and cache footprint) follows the
  // stations actually present rather than the configured maximum.
  private tab: Uint32Array;
  private macCount = 0;
  private lastSweep = 0;
  private lastNow = 0;
  private rebase = false;
  // Per-port counters: rx packets, rx bytes, tx packets, tx bytes, drops.
  private readonly pc: Float64Array;
  private c = { in: 0, out: 0, dropped: 0, unicast: 0, flooded: 0, floodCopies: 0, learned: 0, moves: 0, aged: 0, tableFull: 0, malformed: 0, vlanDropped: 0, filtered: 0, noBuffer: 0 };

  constructor(cfg: SwitchConfig) {
    this.cfg = cfg;
    const n = cfg.ports.length;
    this.ports = cfg.ports.map((p) => ({ name: p.name }));
    this.trunk = new Uint8Array(n);
    this.pvid = new Uint16Array(n);
    this.member = new Uint8Array(n * 4096);
    const lists: number[][] = Array.from({ length: 4096 }, () => []);
    cfg.ports.forEach((p, i) => {
      this.trunk[i] = p.mode === 'trunk' ? 1 : 0;
      this.pvid[i] = p.mode === 'trunk' ? p.native : p.vlan;
      const vids = p.mode === 'trunk' ? [...p.allowed, ...(p.native ? [p.native] : [])] : [p.vlan];
      for (const v of new Set(vids)) {
        this.member[i * 4096 + v] = 1;
        (lists[v] as number[]).push(i);
      }
    });
    this.vlanPorts = lists.map((l) => Int32Array.from(l));
    let maxCap = 16;
    while (maxCap < cfg.maxMacs * 2) maxCap *= 2;
    this.maxCap = maxCap;
    this.cap = Math.min(1024, maxCap);
    this.mask = this.cap - 1;
    this.tab = new Uint32Array(this.cap * 4);
    this.pc = new Float64Array(n * 5);
  }

  // Seeded per instance: stations cannot pick MACs that pile up in one probe chain.
  private readonly seed = (Math.random() * 2 ** 32) | 0;

  private slotOf(hi: number, lo: number): number {
    return fmix32(lo ^ Math.imul(hi ^ this.seed, 0x9e3779b1)) & this.mask;
  }

  /** Slot of (hi, lo) in the table, or -1. */
  private find(hi: number, lo: number): number {
    let i = this.slotOf(hi, lo);
    const t = this.tab;
    for (;;) {
      const h = t[i * 4] as number;
      if (h === 0) return -1;
      if (h === hi && t[i * 4 + 1] === lo) return i;
      i = (i + 1) & this.mask;
    }
  }

  private learn(hi: number, lo: number, port: number, now: number): void {
    let i = this.slotOf(hi, lo);
    const t = this.tab;
    for (;;) {
      const h = t[i * 4] as number;
      if (h === 0) break;
      if (h === hi && t[i * 4 + 1] === lo) {
        if (t[i * 4 + 2] !== port) {
          t[i * 4 + 2] = port;
          this.c.moves++;
        }
        t[i * 4 + 3] = now;
        return;
      }
      i = (i + 1) & this.mask;
    }
    if (this.macCount >= this.cfg.maxMacs) {
      this.c.tableFull++;
      return;
    }
    if ((this.macCount + 1) * 2 > this.cap && this.cap < this.maxCap) {
      this.grow();
      this.learn(hi, lo, port, now);
      return;
    }
    t[i * 4] = hi;
    t[i * 4 + 1] = lo;
    t[i * 4 + 2] = port;
    t[i * 4 + 3] = now;
    this.macCount++;
    this.c.learned++;
  }

  private grow(): void {
    const old = this.tab;
    const oldCap = this.cap;
    this.cap *= 2;
    this.mask = this.cap - 1;
    this.tab = new Uint32Array(this.cap * 4);
    for (let j = 0; j < oldCap; j++) {
      const h = old[j * 4] as number;
      if (h === 0) continue;
      let i = this.slotOf(h, old[j * 4 + 1] as number);
      while (this.tab[i * 4] !== 0) i = (i + 1) & this.mask;
      this.tab.set(old.subarray(j * 4, j * 4 + 4), i * 4);
    }
  }

  // Backward-shift deletion (Knuth 6.4 algorithm R): keeps probe chains intact without tombstones.
  private removeAt(i: number): void {
    const m = this.mask;
    const t = this.tab;
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & m;
      const h = t[j * 4] as number;
      if (h === 0) break;
      const home = this.slotOf(h, t[j * 4 + 1] as number);
      // Move j into the hole unless its home lies cyclically in (hole, j].
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (inRange) continue;
      t.copyWithin(hole * 4, j * 4, j * 4 + 4);
      hole = j;
    }
    t.fill(0, hole * 4, hole * 4 + 4);
    this.macCount--;
  }

  private doRebase(now: number): void {
    const t = this.tab;
    for (let i = 0; i < this.cap; i++) if (t[i * 4] !== 0) t[i * 4 + 3] = now + (t[i * 4 + 3] as number);
    this.rebase = false;
  }

  private ageOf(i: number): number {
    return (this.lastNow - (this.tab[i * 4 + 3] as number)) >>> 0;
  }

  process(port: number, batch: Batch, ctx: ProcessContext): void {
    const { pool, out } = ctx;
    const now = ctx.now >>> 0; // ms mod 2^32: ages are compared modulo too
    this.lastNow = now;
    if (this.rebase) this.doRebase(now);
    const b = pool.bytes;
    const view = pool.view;
    const n = batch.count;
    const pc = this.pc;
    const c = this.c;
    const ageing = this.cfg.ageingMs;
    c.in += n;
    if (port < 0 || port >= this.ports.length) {
      for (let i = 0; i < n; i++) out.drop(batch.slots[i] as number);
      c.dropped += n;
      c.malformed += n;
      return;
    }
    pc[port * 5] = (pc[port * 5] as number) + n;
    let rxBytes = 0;
    for (let i = 0; i < n; i++) rxBytes += batch.lens[i] as number;
    pc[port * 5 + 1] = (pc[port * 5 + 1] as number) + rxBytes;
    const isTrunk = this.trunk[port] === 1;
    const pvid = this.pvid[port] as number;
    for (let i = 0; i < n; i++) {
      const slot = batch.slots[i] as number;
      const off = batch.offs[i] as number;
      const len = batch.lens[i] as number;
      if (len < 14 || (b[off + 6] as number) & 1) {
        // Too short, or a group address as source (never valid, IEEE 802 §8.2).
        this.dropFrame(out, slot, port);
        c.malformed++;
        continue;
      }
      const type = etherType(b, off);
      let tagged = false;
      let vid: number;
      if (type === TPID_8021Q) {
        if (len < 18) {
          this.dropFrame(out, slot, port);
          c.malformed++;
          continue;
        }
        tagged = true;
        vid = vlanVid(b, off + 14);
        if (vid === 0) vid = pvid; // priority-tagged: belongs to the port VLAN
        else if (!isTrunk && vid !== pvid) vid = 0;
      } else {
        vid = pvid; // untagged: access VLAN, or trunk native (0 = none)
      }
      if (vid === 0 || vid === 4095 || this.member[port * 4096 + vid] !== 1) {
        this.dropFrame(out, slot, port);
        c.vlanDropped++;
        continue;
      }
      const srcHi = ((vid << 16) | view.getUint16(off + 6)) >>> 0;
      const srcLo = view.getUint32(off + 8);
      this.learn(srcHi, srcLo, port, now);
      let egress = -1;
      if (((b[off] as number) & 1) === 0) {
        const dstHi = ((vid << 16) | view.getUint16(off)) >>> 0;
        const dstLo = view.getUint32(off + 2);
        const k = this.find(dstHi, dstLo);
        if (k >= 0 && ((now - (this.tab[k * 4 + 3] as number)) >>> 0) < ageing) egress = this.tab[k * 4 + 2] as number;
      }
      if (egress === port) {
        // Destination lives on the ingress segment: the bridge filters it (802.1D).
        this.dropFrame(out, slot, port);
        c.filtered++;
        continue;
      }
      if (egress >= 0) {
        c.unicast++;
        c.out++;
        if (!tagged && this.trunk[egress] === 0) {
          // Access to access: nothing to rewrite (the common case, kept out of emit()).
          pc[egress * 5 + 2] = (pc[egress * 5 + 2] as number) + 1;
          pc[egress * 5 + 3] = (pc[egress * 5 + 3] as number) + len;
          out.send(egress, slot, off, len);
        } else {
          const lo = pool.slotStart(slot);
          this.emit(out, b, slot, off, len, tagged, vid, egress, lo, lo + pool.slotSize);
        }
        continue;
      }
      this.flood(ctx, slot, off, len, tagged, vid, port);
    }
  }

  private dropFrame(out: ProcessContext['out'], slot: number, port: number): void {
    out.drop(slot);
    this.c.dropped++;
    this.pc[port * 5 + 4] = (this.pc[port * 5 + 4] as number) + 1;
  }

  private flood(ctx: ProcessContext, slot: number, off: number, len: number, tagged: boolean, vid: number, port: number): void {
    const { pool, out } = ctx;
    const members = this.vlanPorts[vid] as Int32Array;
    let last = -1;
    for (let k = 0; k < members.length; k++) if (members[k] !== port) last = members[k] as number;
    if (last < 0) {
      this.dropFrame(out, slot, port);
      this.c.filtered++;
      return;
    }
    const b = pool.bytes;
    for (let k = 0; k < members.length; k++) {
      const p = members[k] as number;
      if (p === port || p === last) continue;
      const copy = pool.alloc();
      if (copy < 0) {
        this.c.noBuffer++;
        continue;
      }
      const coff = pool.frameOffset(copy);
      b.copyWithin(coff, off, off + len);
      this.c.floodCopies++;
      this.emit(out, b, copy, coff, len, tagged, vid, p, pool.slotStart(copy), pool.slotStart(copy) + pool.slotSize);
    }
    this.emit(out, b, slot, off, len, tagged, vid, last, pool.slotStart(slot), pool.slotStart(slot) + pool.slotSize);
    this.c.flooded++;
    this.c.out++;
  }

  // Sends one frame by `egress`, adding, rewriting or removing the 802.1Q tag as the port needs.
  private emit(out: ProcessContext['out'], b: Uint8Array, slot: number, off: number, len: number, tagged: boolean, vid: number, egress: number, lo: number, hi: number): void {
    const wantTag = this.trunk[egress] === 1 && vid !== this.pvid[egress];
    if (tagged && !wantTag) {
      b.copyWithin(off + 4, off, off + 12);
      off += 4;
      len -= 4;
    } else if (!tagged && wantTag) {
      if (off - 4 >= lo) {
        b.copyWithin(off - 4, off, off + 12);
        off -= 4;
      } else if (off + len + 4 <= hi) {
        b.copyWithin(off + 16, off + 12, off + len);
      } else {
        out.drop(slot);
        this.c.noBuffer++;
        this.pc[egress * 5 + 4] = (this.pc[egress * 5 + 4] as number) + 1;
        return;
      }
      len += 4;
      b[off + 12] = 0x81;
      b[off + 13] = 0x00;
      b[off + 14] = vid >>> 8;
      b[off + 15] = vid & 0xff;
    } else if (tagged) {
      // Keep PCP/DEI, set the VID (a priority tag becomes a VLAN tag).
      b[off + 14] = ((b[off + 14] as number) & 0xf0) | (vid >>> 8);
      b[off + 15] = vid & 0xff;
    }
    const pc = this.pc;
    pc[egress * 5 + 2] = (pc[egress * 5 + 2] as number) + 1;
    pc[egress * 5 + 3] = (pc[egress * 5 + 3] as number) + len;
    out.send(egress, slot, off, len);
  }

  /** Ages out entries not seen for `ageingMs`; sweeps at most 4 times per ageing period. */
  tick(ctx: ProcessContext): void {
    const now = ctx.now >>> 0;
    this.lastNow = now;
    if (this.rebase) this.doRebase(now);
    if (ctx.now - this.lastSweep < Math.min(1000, this.cfg.ageingMs / 4)) return;
    this.lastSweep = ctx.now;
    const t = this.tab;
    const stale: [number, number][] = [];
    for (let i = 0; i < this.cap; i++) if (t[i * 4] !== 0 && this.ageOf(i) >= this.cfg.ageingMs) stale.push([t[i * 4] as number, t[i * 4 + 1] as number]);
    // Remove by key: backward shifts move entries, so slots found above may have moved.
    for (const [h, l] of stale) {
      const k = this.find(h, l);
      if (k >= 0) {
        this.removeAt(k);
        this.c.aged++;
      }
    }
  }

  /** The MAC table as [{vlan, mac, port}] (for show commands and tests). */
  macTable(): { vlan: number; mac: string; port: string }[] {
    const rows: { vlan: number; mac: string; port: string }[] = [];
    const t = this.tab;
    for (let i = 0; i < this.cap; i++) {
      const h = t[i * 4] as number;
      if (h === 0) continue;
      rows.push({ vlan: h >>> 16, mac: formatMac((h & 0xffff) * 2 ** 32 + (t[i * 4 + 1] as number)), port: this.ports[t[i * 4 + 2] as number]?.name ?? '?' });
    }
    return rows.sort((a, b) => a.vlan - b.vlan || a.mac.localeCompare(b.mac));
  }

  counters(): Counters {
    return {
      ...this.c,
      macs: this.macCount,
      ports: this.ports.map((p, i) => ({
        rxPackets: this.pc[i * 5] as number,
        rxBytes: this.pc[i * 5 + 1] as number,
        txPackets: this.pc[i * 5 + 2] as number,
        txBytes: this.pc[i * 5 + 3] as number,
        drops: this.pc[i * 5 + 4] as number,
      })),
    };
  }

  /** MAC table with each entry's age (ms since last seen, at the last process/tick). */
  exportState(): Plain {
    const rows: { vlan: number; mac: string; port: string; ageMs: number }[] = [];
    const t = this.tab;
    for (let i = 0; i < this.cap; i++) {
      const h = t[i * 4] as number;
      if (h === 0) continue;
      rows.push({ vlan: h >>> 16, mac: formatMac((h & 0xffff) * 2 ** 32 + (t[i * 4 + 1] as number)), port: this.ports[t[i * 4 + 2] as number]?.name ?? '', ageMs: this.rebase ? (0 - (t[i * 4 + 3] as number)) >>> 0 : this.ageOf(i) });
    }
    rows.sort((x, y) => x.vlan - y.vlan || x.mac.localeCompare(y.mac));
    return { macs: rows };
  }

  /** Replaces the MAC table; ages are rebased on the importer's clock at its next process/tick. */
  importState(state: Plain): void {
    const o = strictObject(state, 'state', ['macs']);
    const rows = o.req('macs', arrayOf((v, p) => {
      const r = strictObject(v, p, ['vlan', 'mac', 'port', 'ageMs']);
      const portName = r.req('port', str());
      const portIdx = this.ports.findIndex((x) => x.name === portName);
      if (portIdx < 0) throw new ConfigError(`${p}.port`, `no port named '${portName}'`);
      const m = parseMac(r.req('mac', str()));
      if (m < 0) throw new ConfigError(`${p}.mac`, 'bad MAC address');
      return { vlan: r.req('vlan', vlanId), mac: m, port: portIdx, age: r.req('ageMs', int(0, Number.MAX_SAFE_INTEGER)) };
    }));
    this.cap = Math.min(1024, this.maxCap);
    this.mask = this.cap - 1;
    this.tab = new Uint32Array(this.cap * 4);
    this.macCount = 0;
    const learned = this.c.learned;
    for (const r of rows) {
      const hi = ((r.vlan << 16) | Math.floor(r.mac / 2 ** 32)) >>> 0;
      const lo = r.mac % 2 ** 32 >>> 0;
      this.learn(hi, lo, r.port, (0 - r.age) >>> 0);
    }
    this.c.learned = learned; // imported, not learned here
    this.rebase = true;
  }
}

export const switchFactory: FunctionFactory = {
  kind: 'switch',
  stateCarriedByPreCopy: true,
  summary: 'learning Ethernet switch with 802.1Q access/trunk ports and MAC ageing',
  create: (config: unknown) => new Switch(parseSwitchConfig(config)),
  ports: (config: unknown) => parseSwitchConfig(config).ports.map((p) => ({ name: p.name })),
};
