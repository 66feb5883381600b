/**
 * Domain 0's bridge: the table that says, for every attachment point on a server (a virtual
 * NIC back-end, a VXLAN uplink's VNI, an end of an emulated link, a traffic endpoint in domain
 * 0), which software network it belongs to and where a frame arriving from it goes.
 *
 * Software networks are wired point to point, port to port (each wire is a virtual cable; a
 * LAN inside a network is a `switch` function), so the bridge's data path is one table load per
 * batch: a frame from attachment `a` goes to `peer[a]`, whatever its bytes say (broadcast,
 * VLAN tags, VXLAN headers inside are all payload here). Isolation is enforced where paths are
 * made: `wire` refuses to join attachments of two networks (IsolationError), and an attachment's
 * network never changes. So no frame can cross from one network to another in the data plane,
 * except over an explicit `peerNetworks` peering, where frames are grant-copied.
 *
 * @example
 * const br = new Bridge();
 * const a = br.attach('voip', { kind: 'vnic', domain: 1, vnic: 0 });
 * const b = br.attach('voip', { kind: 'uplink', uplink: 0, vni: 100 });
 * br.wire(a, b);
 * br.peerOf(a); // b
 */

export type AttachmentTarget =
  | { kind: 'vnic'; domain: number; vnic: number }
  | { kind: 'uplink'; uplink: number; vni: number }
  | { kind: 'link'; link: number; end: 0 | 1 }
  | { kind: 'endpoint'; endpoint: number; port: number };

export interface Attachment {
  readonly id: number;
  readonly network: string;
  readonly target: AttachmentTarget;
  /** A name for messages and captures (e.g. `voip:r1.eth0`). */
  readonly label: string;
}

export class IsolationError extends Error {
  override readonly name = 'IsolationError';
}

export class Bridge {
  private readonly list: (Attachment | undefined)[] = [];
  private readonly peers: number[] = [];
  /** 1 where the wire is a peering between two networks: frames are copied (grant copy). */
  private readonly copy: number[] = [];
  /** Frames from an attachment with no peer (dropped, counted per attachment). */
  readonly unwired: number[] = [];

  /** Adds an attachment point of `network`; returns its id. */
  attach(network: string, target: AttachmentTarget, label = `${network}:${target.kind}`): number {
    if (network.length === 0) throw new IsolationError('an attachment needs a software network');
    const id = this.list.length;
    this.list.push({ id, network, target, label });
    this.peers.push(-1);
    this.copy.push(0);
    this.unwired.push(0);
    return id;
  }

  /**
   * Removes an attachment (and its wire; a peer that a migration redirected elsewhere keeps its
   * new wire). Attachments still pointing at it one way (a drained source) lose that path too,
   * so no frame is ever forwarded to an attachment that left.
   */
  detach(id: number): void {
    const p = this.peers[id];
    if (p !== undefined && p >= 0 && this.peers[p] === id) {
      this.peers[p] = -1;
      this.copy[p] = 0;
    }
    for (let i = 0; i < this.peers.length; i++) if (this.peers[i] === id) this.peers[i] = -1;
    this.peers[id] = -1;
    this.copy[id] = 0;
    this.list[id] = undefined;
  }

  /** Joins two attachments of one network by a virtual cable. */
  wire(a: number, b: number): void {
    const x = this.get(a);
    const y = this.get(b);
    if (x.network !== y.network) throw new IsolationError(`cannot wire ${x.label} (network ${x.network}) to ${y.label} (network ${y.network}): two networks never share a path`);
    if (a === b) throw new IsolationError(`cannot wire ${x.label} to itself`);
    if ((this.peers[a] as number) >= 0 || (this.peers[b] as number) >= 0) throw new IsolationError(`${(this.peers[a] as number) >= 0 ? x.label : y.label} is already wired`);
    this.peers[a] = b;
    this.peers[b] = a;
  }

  /**
   * An explicit peering between two networks (an operator's decision, e.g. a tenant network
   * and a shared services network): the only path between networks, and frames on it are
   * grant-copied into fresh slots, so the receiving network never holds a slot the sending one
   * wrote into (Xen netback's copy between guests of different tenants).
   */
  peerNetworks(a: number, b: number): void {
    const x = this.get(a);
    const y = this.get(b);
    if (x.network === y.network) throw new IsolationError(`${x.label} and ${y.label} are in one network: use wire`);
    if ((this.peers[a] as number) >= 0 || (this.peers[b] as number) >= 0) throw new IsolationError(`${(this.peers[a] as number) >= 0 ? x.label : y.label} is already wired`);
    this.peers[a] = b;
    this.peers[b] = a;
    this.copy[a] = 1;
    this.copy[b] = 1;
  }

  /**
   * Migration's switch: frames from `a` go to `to` from the next batch on, and frames from `to`
   * come back to `a`. The old peer of `a` keeps sending to `a` (one way) while it drains; it is
   * detached when its domain is destroyed. `to` must be of `a`'s network and not wired elsewhere
   * (other than to `a`).
   *
   * @example
   * br.redirect(upstream, targetVnic); // the source vNIC still drains into upstream
   */
  redirect(a: number, to: number): void {
    const x = this.get(a);
    const y = this.get(to);
    if (x.network !== y.network && this.copy[a] !== 1) throw new IsolationError(`cannot redirect ${x.label} (network ${x.network}) to ${y.label} (network ${y.network}): two networks never share a path`);
    if (a === to) throw new IsolationError(`cannot wire ${x.label} to itself`);
    const p = this.peers[to] as number;
    if (p >= 0 && p !== a) throw new IsolationError(`${y.label} is already wired`);
    this.peers[a] = to;
    this.peers[to] = a;
    this.copy[to] = this.copy[a] as number;
  }

  /**
   * Frames from `id` go nowhere from now on (one way: an attachment that sends to `id` keeps
   * doing so until it is rewired). Lets a plan change rewire many attachments in one step.
   *
   * @example
   * br.unlink(a); br.unlink(c); br.wire(a, c);
   */
  unlink(id: number): void {
    this.get(id);
    this.peers[id] = -1;
    this.copy[id] = 0;
  }

  /** True when frames leaving `id` cross to another network (copied). */
  copies(id: number): boolean {
    return this.copy[id] === 1;
  }

  get(id: number): Attachment {
    const a = this.list[id];
    if (!a) throw new IsolationError(`no attachment ${id}`);
    return a;
  }

  /** The attachment `id`, or undefined if it left. */
  find(id: number): Attachment | undefined {
    return this.list[id];
  }

  /** Where frames from `id` go, or -1. */
  peerOf(id: number): number {
    return this.peers[id] ?? -1;
  }

  attachments(): Attachment[] {
    return this.list.filter((a): a is Attachment => a !== undefined);
  }
}
