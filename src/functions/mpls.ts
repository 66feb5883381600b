/**
 * MPLS label-switching router (RFC 3031, label stack encoding RFC 3032): an incoming label map
 * (ILM) indexed by the top label selects a next-hop label forwarding entry (NHLFE) that swaps,
 * pops or pushes labels and rewrites the Ethernet header toward the next hop. An outgoing label
 * of 3 (implicit null) in a swap means penultimate-hop popping (RFC 3032 §2.1).
 *
 * TTL (RFC 3032 §2.4, RFC 3443): a top label with TTL ≤ 1 is not forwarded (dropped and counted;
 * this element does not originate ICMP). Otherwise the outgoing TTL is the incoming minus one.
 * Labels pushed on top (entering a tunnel) get that TTL in the uniform model and 255 in the pipe
 * model. On a pop the uniform model carries the decremented TTL into the new top label or the IP
 * header as min(inner, outer − 1): equal to a copy whenever the outer TTL was derived from the
 * inner one, and never raising a TTL, so loops still end. The pipe model leaves the inner TTL
 * alone. TC bits of pushed labels are copied from the incoming top label.
 *
 * Hot path: the ILM is a 2^20-entry Int32Array; NHLFEs live in parallel typed arrays; a swap
 * rewrites 18 bytes in place.
 */
import type { Batch } from '../packet/pool.js';
import { etherType } from '../packet/ethernet.js';
import { checksumUpdate16 } from '../packet/checksum.js';
import { ConfigError, type Counters, type FunctionFactory, type NetworkFunction, type Plain, type PortDecl, type ProcessContext } from './contract.js';
import { arrayOf, int, mac, oneOf, str, strictObject, type Parse } from './config.js';

export const ETHERTYPE_MPLS = 0x8847;
export const LABEL_IPV4_EXPLICIT_NULL = 0;
export const LABEL_IPV6_EXPLICIT_NULL = 2;
export const LABEL_IMPLICIT_NULL = 3;
/** Labels pushed by one NHLFE at most. */
export const MAX_PUSH = 8;

export type TtlModel = 'uniform' | 'pipe';

export interface InterfaceConfig {
  readonly name: string;
  readonly mac: number;
}

export interface IlmEntry {
  readonly label: number;
  readonly action: 'swap' | 'pop' | 'push';
  /** swap: the labels replacing the top one, outermost first; push: labels put on top. */
  readonly labels: readonly number[];
  readonly interface: string;
  readonly nextHop: number;
}

export interface MplsConfig {
  readonly interfaces: readonly InterfaceConfig[];
  readonly ttlModel: TtlModel;
  readonly ilm: readonly IlmEntry[];
}

/** A label that may be sent: 0 and 2 (explicit nulls), 3 only alone in a swap, 16 and up. */
export const outLabel: Parse<number> = (v, p) => {
  const l = int(0, 0xfffff)(v, p);
  if (l !== 0 && l !== 2 && l !== 3 && l < 16) throw new ConfigError(p, `label ${l} is reserved (RFC 3032 §2.1)`);
  return l;
};

/** Parses the `interfaces` list shared by the LSR and LER. */
export function parseInterfaces(o: ReturnType<typeof strictObject>): InterfaceConfig[] {
  const ifs = o.req('interfaces', arrayOf((v, p) => {
    const io = strictObject(v, p, ['name', 'mac']);
    return { name: io.req('name', str()), mac: io.req('mac', mac()) };
  }, 1, 256));
  ifs.forEach((x, i) => {
    if (ifs.findIndex((y) => y.name === x.name) !== i) throw new ConfigError(`interfaces[${i}].name`, `duplicate interface '${x.name}'`);
  });
  return ifs;
}

export function interfaceRef(ifs: readonly InterfaceConfig[]): Parse<string> {
  return (v, p) => {
    const name = str()(v, p);
    if (!ifs.some((x) => x.name === name)) throw new ConfigError(p, `no interface named '${name}' (have: ${ifs.map((x) => x.name).join(', ')})`);
    return name;
  };
}

/**
 * Parses an LSR configuration.
 *
 * @example
 * parseMplsConfig({
 *   interfaces: [{ name: 'west', mac: '02:00:00:00:01:01' }, { name: 'east', mac: '02:00:00:00:01:02' }],
 *   ilm: [{ label: 100, action: 'swap', labels: [200], interface: 'east', nextHop: '02:00:00:00:02:01' }],
 * });
 */
export function parseMplsConfig(config: unknown): MplsConfig {
  const o = strictObject(config, '', ['interfaces', 'ttlModel', 'ilm']);
  const interfaces = parseInterfaces(o);
  const ttlModel = o.opt('ttlModel', oneOf(['uniform', 'pipe'] as const), 'uniform');
  const ilm = o.opt('ilm', arrayOf((v, p) => parseIlmEntry(v, p, interfaces)), []);
  const seen = new Set<number>();
  ilm.forEach((e, i) => {
    if (seen.has(e.label)) throw new ConfigError(`ilm[${i}].label`, `label ${e.label} appears twice`);
    seen.add(e.label);
  });
  return { interfaces, ttlModel, ilm };
}

function parseIlmEntry(v: unknown, p: string, ifs: readonly InterfaceConfig[]): IlmEntry {
  const eo = strictObject(v, p, ['label', 'action', 'labels', 'interface', 'nextHop']);
  const label = eo.req('label', int(0, 0xfffff));
  if (label !== 0 && label !== 2 && label < 16) throw new ConfigError(`${p}.label`, `label ${label} is reserved and cannot be switched`);
  const action = eo.req('action', oneOf(['swap', 'pop', 'push'] as const));
  let labels: number[] = [];
  if (action === 'pop') {
    if (eo.has('labels')) throw new ConfigError(`${p}.labels`, 'a pop takes no labels');
  } else {
    labels = eo.req('labels', arrayOf(outLabel, 1, MAX_PUSH));
    labels.forEach((l, i) => {
      if (l === LABEL_IMPLICIT_NULL && !(action === 'swap' && labels.length === 1)) throw new ConfigError(`${p}.labels[${i}]`, 'implicit null (3) is only valid alone in a swap (penultimate-hop popping)');
    });
  }
  return { label, action, labels, interface: eo.req('interface', interfaceRef(ifs)), nextHop: eo.req('nextHop', mac()) };
}

const OP_SWAP = 1;
const OP_POP = 2;
const OP_PUSH = 3;

/** Writes dst MAC, src MAC (12 bytes from `macs` at `m`) and the EtherType at `off`. */
export function writeEthernet(b: Uint8Array, off: number, macs: Uint8Array, m: number, type: number): void {
  for (let k = 0; k < 12; k++) b[off + k] = macs[m + k] as number;
  b[off + 12] = type >>> 8;
  b[off + 13] = type & 0xff;
}

/** Writes a 48-bit MAC as 6 bytes. */
export function putMac(dst: Uint8Array, at: number, m: number): void {
  const hi = Math.floor(m / 2 ** 32);
  const lo = m % 2 ** 32;
  dst[at] = hi >>> 8;
  dst[at + 1] = hi & 0xff;
  dst[at + 2] = lo >>> 24;
  dst[at + 3] = (lo >>> 16) & 0xff;
  dst[at + 4] = (lo >>> 8) & 0xff;
  dst[at + 5] = lo & 0xff;
}

/**
 * Sets the IPv4 TTL at `ip` (header offset) and updates the header checksum incrementally
 * (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') over the 16-bit word TTL|protocol).
 *
 * @example
 * setIpv4Ttl(bytes, off + 14, 9); // uniform-model TTL copy on a pop to IP
 */
export function setIpv4Ttl(b: Uint8Array, ip: number, ttl: number): void {
  const old = ((b[ip + 8] as number) << 8) | (b[ip + 9] as number);
  const hc = checksumUpdate16(((b[ip + 10] as number) << 8) | (b[ip + 11] as number), old, (ttl << 8) | (b[ip + 9] as number));
  b[ip + 8] = ttl;
  b[ip + 10] = hc >>> 8;
  b[ip + 11] = hc & 0xff;
}

/**
 * The label-switching router.
 *
 * @example
 * const lsr = mplsFactory.create(config) as MplsLsr;
 * lsr.process(0, batch, ctx);
 * lsr.setIlm({ label: 300, action: 'pop', labels: [], interface: 'east', nextHop: 0x020000000201 });
 */
export class MplsLsr implements NetworkFunction {
  readonly kind = 'mpls-lsr';
  readonly ports: readonly PortDecl[];
  private readonly cfg: MplsConfig;
  private readonly pipe: boolean;
  /** label → NHLFE index, -1 = none. */
  private readonly ilm: Int32Array = new Int32Array(1 << 20).fill(-1);
  private nhCap = 0;
  private nhCount = 0;
  private freeNh: number[] = [];
  private op = new Uint8Array(0);
  private outPort = new Int32Array(0);
  private nLabels = new Int32Array(0);
  private labels = new Int32Array(0);
  private macs = new Uint8Array(0);
  // The same MACs as big-endian words [dst 0..3, dst 4..5, src 0..3, src 4..5]: four DataView
  // stores rewrite the Ethernet addresses instead of twelve byte stores.
  private macWords = new Uint32Array(0);
  private nhLabel = new Int32Array(0);
  private nhPackets = new Float64Array(0);
  private readonly portRx: Float64Array;
  private readonly portTx: Float64Array;
  private c = { in: 0, out: 0, dropped: 0, swapped: 0, popped: 0, pushed: 0, ttlExpired: 0, noLabel: 0, malformed: 0, notMpls: 0, noHeadroom: 0 };

  constructor(cfg: MplsConfig) {
    this.cfg = cfg;
    this.pipe = cfg.ttlModel === 'pipe';
    this.ports = cfg.interfaces.map((i) => ({ name: i.name }));
    this.portRx = new Float64Array(this.ports.length);
    this.portTx = new Float64Array(this.ports.length);
    this.grow(Math.max(16, cfg.ilm.length));
    for (const e of cfg.ilm) this.setIlm(e);
  }

  private grow(cap: number): void {
    const op = new Uint8Array(cap);
    op.set(this.op);
    this.op = op;
    const port = new Int32Array(cap);
    port.set(this.outPort);
    this.outPort = port;
    const nl = new Int32Array(cap);
    nl.set(this.nLabels);
    this.nLabels = nl;
    const ls = new Int32Array(cap * MAX_PUSH);
    ls.set(this.labels);
    this.labels = ls;
    const m = new Uint8Array(cap * 12);
    m.set(this.macs);
    this.macs = m;
    const mw = new Uint32Array(cap * 4);
    mw.set(this.macWords);
    this.macWords = mw;
    const nlab = new Int32Array(cap);
    nlab.set(this.nhLabel);
    this.nhLabel = nlab;
    const pk = new Float64Array(cap);
    pk.set(this.nhPackets);
    this.nhPackets = pk;
    this.nhCap = cap;
  }

  /** Installs or replaces the ILM entry of `e.label` (control-plane API). */
  setIlm(e: IlmEntry): void {
    const port = this.cfg.interfaces.findIndex((x) => x.name === e.interface);
    if (port < 0) throw new ConfigError('interface', `no interface named '${e.interface}'`);
    let k = this.ilm[e.label] as number;
    if (k < 0) {
      const f = this.freeNh.pop();
      if (f !== undefined) k = f;
      else {
        if (this.nhCount === this.nhCap) this.grow(this.nhCap * 2);
        k = this.nhCount++;
      }
    }
    // An outgoing implicit null is a pop at the penultimate hop.
    const implicitNull = e.action === 'swap' && e.labels.length === 1 && e.labels[0] === LABEL_IMPLICIT_NULL;
    this.op[k] = implicitNull || e.action === 'pop' ? OP_POP : e.action === 'swap' ? OP_SWAP : OP_PUSH;
    this.outPort[k] = port;
    this.nLabels[k] = implicitNull ? 0 : e.labels.length;
    this.labels.fill(0, k * MAX_PUSH, k * MAX_PUSH + MAX_PUSH);
    if (!implicitNull) e.labels.forEach((l, i) => (this.labels[k * MAX_PUSH + i] = l));
    putMac(this.macs, k * 12, e.nextHop);
    putMac(this.macs, k * 12 + 6, (this.cfg.interfaces[port] as InterfaceConfig).mac);
    const mv = new DataView(this.macs.buffer, k * 12, 12);
    this.macWords.set([mv.getUint32(0), mv.getUint16(4), mv.getUint32(6), mv.getUint16(10)], k * 4);
    this.nhLabel[k] = e.label;
    this.nhPackets[k] = 0;
    this.ilm[e.label] = k;
  }

  /** Removes the ILM entry of `label`; returns false when there was none. */
  removeIlm(label: number): boolean {
    const k = this.ilm[label];
    if (k === undefined || k < 0) return false;
    this.ilm[label] = -1;
    this.nhLabel[k] = -1;
    this.freeNh.push(k);
    return true;
  }

  process(port: number, batch: Batch, ctx: ProcessContext): void {
    const { pool, out } = ctx;
    const b = pool.bytes;
    const n = batch.count;
    const c = this.c;
    const ilm = this.ilm;
    const pipe = this.pipe;
    c.in += n;
    if (port >= 0 && port < this.portRx.length) this.portRx[port] = (this.portRx[port] as number) + n;
    for (let i = 0; i < n; i++) {
      const slot = batch.slots[i] as number;
      let off = batch.offs[i] as number;
      let len = batch.lens[i] as number;
      if (len < 18) {
        out.drop(slot);
        c.dropped++;
        c.malformed++;
        continue;
      }
      if (etherType(b, off) !== ETHERTYPE_MPLS) {
        out.drop(slot);
        c.dropped++;
        c.notMpls++;
        continue;
      }
      const l = off + 14;
      const view = pool.view;
      // The label stack entry as one word: label(20) TC(3) S(1) TTL(8), RFC 3032 §2.1.
      const ent = view.getUint32(l);
      const b2 = (ent >>> 8) & 0xff;
      const ttl = ent & 0xff;
      const label = ent >>> 12;
      const k = ilm[label] as number;
      if (k < 0) {
        out.drop(slot);
        c.dropped++;
        c.noLabel++;
        continue;
      }
      if (ttl <= 1) {
        out.drop(slot);
        c.dropped++;
        c.ttlExpired++;
        continue;
      }
      const newTtl = ttl - 1;
      const tc = b2 & 0x0e;
      const bos = b2 & 0x01;
      const op = this.op[k] as number;
      const m = k * 12;
      if (op === OP_SWAP && this.nLabels[k] === 1) {
        // Hot path: one label for one label, in place.
        const nl = this.labels[k * MAX_PUSH] as number;
        view.setUint32(l, (nl << 12) | (ent & 0xf00) | newTtl);
        const mw = this.macWords;
        view.setUint32(off, mw[k * 4] as number);
        view.setUint16(off + 4, mw[k * 4 + 1] as number);
        view.setUint32(off + 6, mw[k * 4 + 2] as number);
        view.setUint16(off + 10, mw[k * 4 + 3] as number);
        c.swapped++;
      } else if (op === OP_POP) {
        if (bos === 0) {
          if (len < 22) {
            out.drop(slot);
            c.dropped++;
            c.malformed++;
            continue;
          }
          if (!pipe && (b[l + 7] as number) > newTtl) b[l + 7] = newTtl;
          off += 4;
          len -= 4;
          writeEthernet(b, off, this.macs, m, ETHERTYPE_MPLS);
        } else {
          const ip = l + 4;
          const ver = len > 18 ? (b[ip] as number) >>> 4 : 0;
          if (ver === 4 && len >= 38) {
            if (!pipe && (b[ip + 8] as number) > newTtl) setIpv4Ttl(b, ip, newTtl);
            off += 4;
            len -= 4;
            writeEthernet(b, off, this.macs, m, 0x0800);
          } else if (ver === 6 && len >= 58) {
            if (!pipe && (b[ip + 7] as number) > newTtl) b[ip + 7] = newTtl;
            off += 4;
            len -= 4;
            writeEthernet(b, off, this.macs, m, 0x86dd);
          } else {
            out.drop(slot);
            c.dropped++;
            c.malformed++;
            continue;
          }
        }
        c.popped++;
      } else {
        // Swap to several labels, or push on top of the (decremented) top label.
        const nl = this.nLabels[k] as number;
        const grow = op === OP_SWAP ? nl - 1 : nl;
        if (off - 4 * grow < pool.slotStart(slot)) {
          out.drop(slot);
          c.dropped++;
          c.noHeadroom++;
          continue;
        }
        if (op === OP_PUSH) b[l + 3] = newTtl;
        off -= 4 * grow;
        len += 4 * grow;
        writeEthernet(b, off, this.macs, m, ETHERTYPE_MPLS);
        const innermost = op === OP_SWAP ? nl - 1 : -1;
        for (let q = 0; q < nl; q++) {
          const lab = this.labels[k * MAX_PUSH + q] as number;
          const at = off + 14 + 4 * q;
          // The swapped label continues this LSP (its TTL is always the decremented one); labels
          // pushed on top start a tunnel: RFC 3443 uniform copies, pipe starts at 255.
          const t = q === innermost || !pipe ? newTtl : 255;
          b[at] = lab >>> 12;
          b[at + 1] = (lab >>> 4) & 0xff;
          b[at + 2] = ((lab & 0xf) << 4) | tc | (q === innermost ? bos : 0);
          b[at + 3] = t;
        }
        if (op === OP_SWAP) c.swapped++;
        c.pushed++;
      }
      this.nhPackets[k] = (this.nhPackets[k] as number) + 1;
      const p = this.outPort[k] as number;
      this.portTx[p] = (this.portTx[p] as number) + 1;
      c.out++;
      out.send(p, slot, off, len);
    }
  }

  counters(): Counters {
    const ilm: Counters[] = [];
    for (let k = 0; k < this.nhCount; k++) if ((this.nhLabel[k] as number) >= 0) ilm.push({ label: this.nhLabel[k] as number, packets: this.nhPackets[k] as number });
    return {
      ...this.c,
      ilm,
      ports: this.ports.map((_, i) => ({ rxPackets: this.portRx[i] as number, txPackets: this.portTx[i] as number })),
    };
  }

  /** An LSR keeps no dynamic state beyond counters: its tables are configuration. */
  exportState(): Plain {
    return {};
  }

  importState(state: Plain): void {
    strictObject(state, 'state', []);
  }
}

export const mplsFactory: FunctionFactory = {
  kind: 'mpls-lsr',
  summary: 'MPLS label-switching router: swap / pop / push, PHP, RFC 3443 TTL models',
  create: (config: unknown) => new MplsLsr(parseMplsConfig(config)),
  ports: (config: unknown) => parseMplsConfig(config).interfaces.map((i) => ({ name: i.name })),
};
