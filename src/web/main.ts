/**
 * The swnet dashboard: lists everything once, then follows the watch stream (resuming from the
 * last revision after a reconnect). Watch messages are queued and applied once per animation
 * frame, and only the visible view is redrawn, so a burst of thousands of changes costs one
 * render. Long lists (networks, events) are virtualised; only the selected network's topology
 * is laid out.
 */
import type cytoscape from 'cytoscape';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { Api, HttpError, initialToken, saveToken, type Issue, type Placement, type Resource, type SwEvent, type WatchMsg } from './api.js';

// ---------- state ----------
const S = {
  dcs: new Map<string, Resource>(),
  servers: new Map<string, Resource>(),
  links: new Map<string, Resource>(),
  nets: new Map<string, Resource>(),
  placements: new Map<string, Placement>(),
  byNet: new Map<string, Map<string, Placement>>(),
  events: new Map<string, SwEvent>(),
  revision: 0,
};
type View = 'infra' | 'nets' | 'events' | 'apply';
let view: View = 'infra';
const dirty = { infra: true, netList: true, netSel: true, events: true, servers: true };
let netOrder: string[] = [];
let netOrderStale = true;
let selected: string | null = null;
let api: Api;
const caps = { drain: '', fail: '', migrate: '', connect: '', disconnect: '' };

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;
const h = <K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<Record<string, string>> = {}, ...kids: (Node | string)[]): HTMLElementTagNameMap[K] => {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) if (v !== undefined) el.setAttribute(k, v);
  el.append(...kids);
  return el;
};
const netKey = (ns: string | undefined, name: string): string => `${ns ?? 'default'}/${name}`;
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

function parseCpu(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return 0;
  return v.endsWith('m') ? Number(v.slice(0, -1)) / 1000 : Number(v) || 0;
}
function fmt(n: number, unit = ''): string {
  const a = Math.abs(n);
  const [d, s] = a >= 1e9 ? [1e9, 'G'] : a >= 1e6 ? [1e6, 'M'] : a >= 1e3 ? [1e3, 'k'] : [1, ''];
  return `${(n / d).toFixed(d === 1 && a < 10 && a !== Math.round(a) ? 2 : a >= 100 * d || d === 1 ? 0 : 1)}${s}${unit}`;
}

// ---------- applying changes ----------
function putPlacement(p: Placement): void {
  const k = netKey(p.namespace, p.network);
  S.placements.set(`${k}/${p.function}`, p);
  let m = S.byNet.get(k);
  if (!m) S.byNet.set(k, (m = new Map()));
  m.set(p.function, p);
  if (k === selected) dirty.netSel = true;
}
function dropPlacement(ns: string, net: string, fn: string): void {
  const k = netKey(ns, net);
  S.placements.delete(`${k}/${fn}`);
  S.byNet.get(k)?.delete(fn);
  if (k === selected) dirty.netSel = true;
}
function mapOf(kind: string): Map<string, Resource> | undefined {
  return kind === 'Datacenter' ? S.dcs : kind === 'Server' ? S.servers : kind === 'Link' ? S.links : kind === 'SoftwareNetwork' ? S.nets : undefined;
}
function putResource(r: Resource): void {
  const m = mapOf(r.kind);
  if (!m) return;
  const k = r.kind === 'SoftwareNetwork' ? netKey(r.metadata.namespace, r.metadata.name) : r.metadata.name;
  if (r.kind === 'SoftwareNetwork') {
    if (!m.has(k)) netOrderStale = true;
    dirty.netList = true;
    if (k === selected) dirty.netSel = true;
  } else dirty.infra = dirty.servers = true;
  m.set(k, r);
}
function apply(msg: WatchMsg): void {
  if (msg.revision !== undefined && msg.revision > S.revision) S.revision = msg.revision;
  const o = msg.object;
  const del = msg.type === 'DELETED';
  if (o['kind'] === 'Event') {
    const md = o['metadata'] as { name: string; namespace: string };
    if (del) S.events.delete(`${md.namespace}/${md.name}`);
    else S.events.set(`${md.namespace}/${md.name}`, o as unknown as SwEvent);
    dirty.events = true;
    return;
  }
  if (typeof o['network'] === 'string' && typeof o['function'] === 'string') {
    const p = o as unknown as Placement;
    if (del) dropPlacement(p.namespace, p.network, p.function);
    else putPlacement(p);
    dirty.infra = dirty.netList = true;
    return;
  }
  const r = o as unknown as Resource;
  if (typeof r.kind !== 'string' || !r.metadata) return;
  if (del) {
    const m = mapOf(r.kind);
    if (!m) return;
    if (r.kind === 'SoftwareNetwork') {
      m.delete(netKey(r.metadata.namespace, r.metadata.name));
      netOrderStale = dirty.netList = true;
    } else {
      m.delete(r.metadata.name);
      dirty.infra = dirty.servers = true;
    }
  } else putResource(r);
}

const queue: WatchMsg[] = [];
let frame = 0;
function enqueue(m: WatchMsg): void {
  queue.push(m);
  if (!frame) frame = requestAnimationFrame(flush);
}
function flush(): void {
  frame = 0;
  for (const m of queue.splice(0)) apply(m);
  render();
}

// ---------- loading and watching ----------
async function loadAll(): Promise<void> {
  const { revision } = await api.get<{ revision: number }>('/healthz');
  const evsP = api.get<{ items: SwEvent[] }>('/api/v1/events');
  evsP.catch(() => undefined); // handled below once the lists are in; a refused token is reported by them
  const [dcs, servers, links, nets, pls] = await Promise.all([
    api.get<{ items: Resource[] }>('/api/v1/datacenters'),
    api.get<{ items: Resource[] }>('/api/v1/servers'),
    api.get<{ items: Resource[] }>('/api/v1/links'),
    api.get<{ items: Resource[] }>('/api/v1/softwarenetworks'),
    api.get<{ items: Placement[] }>('/api/v1/placements'),
  ]);
  for (const m of [S.dcs, S.servers, S.links, S.nets, S.placements, S.byNet, S.events]) m.clear();
  for (const r of [...dcs.items, ...servers.items, ...links.items, ...nets.items]) putResource(r);
  for (const p of pls.items) putPlacement(p);
  // Events are not needed for the first view: they fill in when they come.
  void evsP.then(
    (evs) => {
      for (const e of evs.items) if (!S.events.has(`${e.metadata.namespace}/${e.metadata.name}`)) S.events.set(`${e.metadata.namespace}/${e.metadata.name}`, e);
      dirty.events = true;
      render();
    },
    () => undefined,
  );
  // Changes made while listing come again from the watch (revision > the one read first); applying them twice is harmless.
  S.revision = revision;
  netOrderStale = true;
  Object.assign(dirty, { infra: true, netList: true, netSel: true, events: true, servers: true });
}

let backoff = 250;
function connect(): void {
  const ws = api.watch(S.revision);
  const pill = $('conn');
  ws.onopen = () => {
    backoff = 250;
    pill.className = 'pill live';
    pill.textContent = 'live';
  };
  ws.onmessage = (e: MessageEvent<string>) => {
    const m = JSON.parse(e.data) as WatchMsg;
    if (m.type !== 'ERROR') enqueue(m);
  };
  ws.onclose = (e) => {
    pill.className = 'pill retry';
    pill.textContent = `reconnecting (rev ${S.revision})`;
    // 4410: the revision was compacted away; 4429: too slow — both need a fresh list.
    const relist = e.code === 4410 || e.code === 4429;
    setTimeout(() => void resume(relist), backoff);
    backoff = Math.min(backoff * 2, 5000);
  };
}
async function resume(relist: boolean): Promise<void> {
  try {
    await api.get('/api/v1/whoami');
    if (relist) await loadAll();
    render();
    connect();
  } catch (e) {
    if (e instanceof HttpError && e.status === 401) return showLogin('the token was refused');
    setTimeout(() => void resume(relist), backoff);
    backoff = Math.min(backoff * 2, 5000);
  }
}

async function detectCapabilities(): Promise<void> {
  try {
    const doc = await api.get<{ paths?: Record<string, Record<string, unknown>> }>('/openapi.json');
    for (const [path, ops] of Object.entries(doc.paths ?? {})) {
      if (!('post' in ops) && !('put' in ops)) continue;
      for (const k of Object.keys(caps) as (keyof typeof caps)[]) if (new RegExp(`/${k}(\\b|$)`).test(path) && !caps[k]) caps[k] = path;
    }
  } catch {
    // no document: every operation stays disabled
  }
}

// ---------- rendering ----------
function render(): void {
  renderKpis();
  if (view === 'infra' && dirty.infra) renderInfra();
  if (view === 'nets') {
    if (dirty.netList) renderNetList();
    if (dirty.netSel) renderSelected();
  }
  if (view === 'events' && dirty.events) renderEvents();
  if (view === 'apply' && dirty.servers) renderServerControls();
}

/** Functions and requested CPU per server, in one pass over the placements. */
function perServer(): Map<string, { fns: number; cpu: number }> {
  const m = new Map<string, { fns: number; cpu: number }>();
  for (const p of S.placements.values()) {
    let e = m.get(p.server);
    if (!e) m.set(p.server, (e = { fns: 0, cpu: 0 }));
    e.fns++;
    e.cpu += p.requests?.cpu ?? 0;
  }
  return m;
}
function serverFacts(s: Resource, use: Map<string, { fns: number; cpu: number }>): { fns: number; reqCpu: number; cap: number; util?: number; power?: number; energy?: number; state: string } {
  const fns = use.get(s.metadata.name)?.fns ?? 0;
  const reqCpu = use.get(s.metadata.name)?.cpu ?? 0;
  const st = s.status ?? {};
  const util = num((st['utilization'] as Record<string, unknown> | undefined)?.['cpu']);
  const power = num(st['powerWatts']);
  const energy = num(st['energyJoules']);
  const ready = st.conditions?.find((c) => c.type === 'Ready');
  const declared = typeof st['state'] === 'string' ? st['state'] : st['standby'] === true ? 'standby' : undefined;
  const state = ready?.status === 'False' ? 'down' : declared ?? (fns === 0 ? 'standby' : 'active');
  return { fns, reqCpu, cap: parseCpu((s.spec?.['capacity'] as Record<string, unknown> | undefined)?.['cpu']), ...(util !== undefined ? { util } : {}), ...(power !== undefined ? { power } : {}), ...(energy !== undefined ? { energy } : {}), state };
}

function renderKpis(): void {
  let active = 0;
  let power = 0;
  const used = new Set<string>();
  for (const p of S.placements.values()) used.add(p.server);
  for (const s of S.servers.values()) {
    if (used.has(s.metadata.name)) active++;
    power += num(s.status?.['powerWatts']) ?? 0;
  }
  $('kpis').innerHTML = '';
  $('kpis').append(
    h('b', { id: 'kpi-servers' }, `${active}/${S.servers.size} servers active`),
    h('b', { id: 'kpi-nets' }, `${S.nets.size} networks`),
    h('b', {}, `${S.placements.size} functions placed`),
    h('b', {}, `${fmt(power, 'W')}`),
    h('span', { id: 'kpi-rev', 'data-rev': String(S.revision) }, `rev ${S.revision}`),
  );
}

const TIER_ORDER = ['core', 'central', 'cloud', 'regional', 'metro', 'edge', 'mec', 'access'];
function renderInfra(): void {
  dirty.infra = false;
  const byDc = new Map<string, Resource[]>();
  for (const s of S.servers.values()) {
    const dc = typeof s.spec?.['datacenter'] === 'string' ? (s.spec['datacenter'] as string) : '';
    byDc.set(dc, [...(byDc.get(dc) ?? []), s]);
  }
  const tiers = new Map<string, Resource[]>();
  for (const d of S.dcs.values()) {
    const t = typeof d.spec?.['tier'] === 'string' ? (d.spec['tier'] as string) : 'unknown';
    tiers.set(t, [...(tiers.get(t) ?? []), d]);
  }
  const rank = (t: string): number => (TIER_ORDER.indexOf(t) + 1 || 99);
  const use = perServer();
  const out = h('div');
  const dcCard = (name: string, dc: Resource | undefined): HTMLElement => {
    const servers = (byDc.get(name) ?? []).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name, undefined, { numeric: true }));
    const loc = dc?.spec?.['location'] as Record<string, unknown> | undefined;
    const table = h('table', {}, h('tr', {}, ...['server', 'state', 'functions', 'CPU requested', 'utilisation', 'power', 'energy'].map((c) => h('th', {}, c))));
    for (const s of servers) {
      const f = serverFacts(s, use);
      const frac = f.cap > 0 ? Math.min(1, f.reqCpu / f.cap) : 0;
      const bar = h('span', { class: 'bar' }, h('i', { style: `width:${(frac * 100).toFixed(0)}%` }));
      table.append(
        h('tr', { 'data-server': s.metadata.name },
          h('td', {}, s.metadata.name),
          h('td', { class: `state-${f.state === 'active' ? 'on' : f.state === 'down' ? 'down' : 'standby'}` }, f.state),
          h('td', {}, String(f.fns)),
          h('td', {}, bar, ` ${f.reqCpu.toFixed(1)}/${f.cap}`),
          h('td', {}, f.util !== undefined ? `${(f.util * 100).toFixed(0)}%` : '–'),
          h('td', {}, f.power !== undefined ? `${f.power.toFixed(0)} W` : '–'),
          h('td', {}, f.energy !== undefined ? `${(f.energy / 3600).toFixed(1)} Wh` : '–'),
        ),
      );
    }
    return h('div', { class: 'dc', 'data-dc': name }, h('h3', {}, name || '(no datacenter)', h('span', { class: 'muted' }, loc && typeof loc['city'] === 'string' ? ` · ${loc['city']}` : '', ` · ${servers.length} servers`)), table);
  };
  for (const [tier, dcs] of [...tiers].sort((a, b) => rank(a[0]) - rank(b[0]))) {
    out.append(h('div', { class: 'tier' }, h('h2', {}, tier), h('div', { class: 'dcs' }, ...dcs.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name)).map((d) => dcCard(d.metadata.name, d)))));
  }
  const orphans = [...byDc.keys()].filter((n) => !S.dcs.has(n));
  if (orphans.length) out.append(h('div', { class: 'tier' }, h('h2', {}, 'unknown datacenter'), h('div', { class: 'dcs' }, ...orphans.map((n) => dcCard(n, undefined)))));
  if (!S.servers.size && !S.dcs.size) out.append(h('p', { class: 'muted' }, 'No datacenters or servers yet: apply a manifest (Apply tab).'));
  $('infra').replaceChildren(out);
}

/** A list that renders only the rows in view (fixed row height). */
class VList<T> {
  items: T[] = [];
  constructor(private readonly scroll: HTMLElement, private readonly spacer: HTMLElement, private readonly rows: HTMLElement, private readonly rowH: number, private readonly row: (t: T) => HTMLElement) {
    scroll.addEventListener('scroll', () => this.draw(), { passive: true });
    new ResizeObserver(() => this.draw()).observe(scroll);
  }
  set(items: T[]): void {
    this.items = items;
    this.draw();
  }
  draw(): void {
    this.spacer.style.height = `${this.items.length * this.rowH}px`;
    const first = Math.max(0, Math.floor(this.scroll.scrollTop / this.rowH) - 5);
    const n = Math.ceil((this.scroll.clientHeight || 600) / this.rowH) + 10;
    this.rows.style.transform = `translateY(${first * this.rowH}px)`;
    this.rows.replaceChildren(...this.items.slice(first, first + n).map(this.row));
  }
}

const netList = new VList<string>($('net-scroll'), $('net-spacer'), $('net-rows'), 28, (k) => {
  const n = S.nets.get(k);
  const fns = (n?.spec?.['functions'] as unknown[] | undefined)?.length ?? 0;
  const placed = [...(S.byNet.get(k)?.values() ?? [])].filter((p) => !p.function.includes('~')).length;
  const sched = n?.status?.conditions?.find((c) => c.type === 'Scheduled')?.status ?? 'Unknown';
  const row = h('div', { class: `row${k === selected ? ' sel' : ''}`, 'data-net': k, title: k },
    h('span', { class: sched === 'True' ? 'ok' : sched === 'False' ? 'err' : 'muted' }, '●'),
    h('span', { class: 'grow' }, k),
    h('span', { class: 'muted' }, `${placed}/${fns}`));
  row.onclick = () => select(k);
  return row;
});

function renderNetList(): void {
  dirty.netList = false;
  if (netOrderStale) {
    netOrder = [...S.nets.keys()].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
    netOrderStale = false;
  }
  const f = ($('net-filter') as HTMLInputElement).value.trim().toLowerCase();
  const items = f ? netOrder.filter((k) => k.toLowerCase().includes(f)) : netOrder;
  $('net-count').textContent = `${items.length} of ${netOrder.length} networks`;
  netList.set(items);
}

function select(k: string): void {
  if (k !== selected) {
    netHist = { t: [], bits: [], frames: [], p50: [], p99: [], loss: [], tokens: [] };
    lastSample = undefined;
    topoSig = '';
  }
  selected = k;
  dirty.netSel = dirty.netList = true;
  render();
}

let cy: cytoscape.Core | undefined;
let topoSig = '';
// cytoscape is most of the bundle: loaded when a topology is first shown, not before the first render.
let cyLib: typeof cytoscape | undefined;
let cyLoading = false;
function loadCytoscape(): void {
  if (cyLoading) return;
  cyLoading = true;
  void import('cytoscape').then((m) => {
    cyLib = m.default;
    topoSig = '';
    dirty.netSel = true;
    render();
  });
}
function renderSelected(): void {
  dirty.netSel = false;
  const k = selected;
  const n = k ? S.nets.get(k) : undefined;
  if (!k || !n) {
    $('net-head').replaceChildren(h('p', { class: 'muted' }, k ? `${k} was deleted.` : 'Select a software network.'));
    cy?.elements().remove();
    $('net-placements').replaceChildren();
    $('net-controls').replaceChildren();
    return;
  }
  const spec = n.spec ?? {};
  const fns = (spec['functions'] as { name: string; kind?: string; resources?: Record<string, unknown> }[] | undefined) ?? [];
  const links = (spec['links'] as { endpoints?: string[]; latency?: string; bandwidth?: string }[] | undefined) ?? [];
  const pl = S.byNet.get(k) ?? new Map<string, Placement>();
  const cond = n.status?.conditions?.find((c) => c.type === 'Scheduled');
  $('net-head').replaceChildren(
    h('h2', { id: 'net-title' }, k),
    h('div', { class: 'muted' }, `${fns.length} functions · ${links.length} links · generation ${n.metadata.generation ?? '?'} · tokens ${String(spec['tokens'] ?? '–')} · priority ${String(spec['priority'] ?? '–')} · `,
      h('span', { class: cond?.status === 'True' ? 'ok' : 'err' }, cond ? `${cond.reason ?? cond.type}: ${cond.message ?? ''}` : 'not scheduled yet')),
  );
  // Topology: functions inside the server that hosts them; rebuilt only when its shape changes.
  const placements = [...pl.values()];
  const sig = JSON.stringify([fns.map((f) => f.name), links.map((l) => l.endpoints), placements.map((p) => [p.function, p.server]).sort()]);
  if (!cyLib) loadCytoscape();
  else if (sig !== topoSig) {
    topoSig = sig;
    const els: cytoscape.ElementDefinition[] = [];
    const servers = new Set(placements.map((p) => p.server));
    // Deterministic layout: one column per server (sorted), its functions stacked inside, the
    // primaries first and standby copies below; unplaced functions in a last column.
    const cols = new Map<string, string[]>();
    for (const s of [...servers].sort()) cols.set(s, []);
    const unplacedCol: string[] = [];
    for (const f of fns) {
      const p = pl.get(f.name);
      (p ? cols.get(p.server)! : unplacedCol).push(f.name);
    }
    for (const p of placements) if (p.function.includes('~')) cols.get(p.server)?.push(p.function);
    let x = 0;
    const place = (ids: string[], parent: string | undefined): void => {
      ids.forEach((id, j) => {
        const f = fns.find((g) => g.name === id);
        const label = f ? `${id}\n${f.kind ?? ''}` : id;
        els.push({ data: { id: `fn:${id}`, label, base: label, ...(parent ? { parent } : {}) }, position: { x, y: j * 80 }, classes: f ? (parent ? 'fn' : 'fn unplaced') : 'standby' });
      });
      x += 160;
    };
    for (const [s, ids] of cols) {
      els.push({ data: { id: `srv:${s}`, label: s }, classes: 'server' });
      place(ids, `srv:${s}`);
    }
    if (unplacedCol.length) place(unplacedCol, undefined);
    const known = new Set(fns.map((f) => f.name));
    links.forEach((l, i) => {
      const [a, b] = (l.endpoints ?? []).map((e) => e.split(':')[0] ?? e);
      if (a && b && known.has(a) && known.has(b)) els.push({ data: { id: `l${i}`, source: `fn:${a}`, target: `fn:${b}`, label: [l.latency, l.bandwidth].filter(Boolean).join(' ') } });
    });
    if (!cy) {
      cy = cyLib({
        container: $('topology'),
        wheelSensitivity: 0.3,
        style: [
          { selector: 'node', style: { label: 'data(label)', color: '#d8dee6', 'font-size': 10, 'text-wrap': 'wrap', 'text-valign': 'center', 'background-color': '#4aa3ff', width: 46, height: 46 } },
          { selector: '.unplaced', style: { 'background-color': '#ff5c5c' } },
          { selector: '.standby', style: { 'background-color': '#555', 'border-style': 'dashed', 'border-width': 2, 'border-color': '#aaa' } },
          { selector: '.server', style: { 'background-color': '#1f2833', 'background-opacity': 0.6, 'border-color': '#3ecf8e', 'border-width': 1, 'text-valign': 'top', color: '#3ecf8e' } },
          { selector: 'edge', style: { width: 2, 'line-color': '#8895a3', label: 'data(label)', 'font-size': 9, color: '#8895a3', 'curve-style': 'bezier' } },
        ],
      });
    }
    cy.elements().remove();
    cy.add(els);
    cy.layout({ name: 'preset', padding: 30, fit: true }).run();
    cy.maxZoom(1.5);
  }
  // Placements with migrate controls.
  const servers = [...S.servers.keys()].sort();
  const table = $('net-placements');
  table.replaceChildren(h('tr', {}, ...['function', 'kind', 'server', 'CPU', 'memory', caps.migrate ? 'migrate to' : ''].map((c) => h('th', {}, c))));
  for (const f of [...fns.map((f) => f.name), ...placements.filter((p) => p.function.includes('~')).map((p) => p.function)]) {
    const p = pl.get(f);
    const sel = h('select', { 'aria-label': `migrate ${f}` }, ...servers.map((s) => h('option', { value: s }, s)));
    const go = h('button', {}, 'migrate');
    disableUnless(go, 'migrate', 'migrate a function');
    go.onclick = () => void op('migrate', { namespace: k.split('/')[0] ?? 'default', name: k.split('/')[1] ?? '', function: f, server: (sel as HTMLSelectElement).value });
    table.append(h('tr', { 'data-fn': f }, h('td', {}, f), h('td', {}, fns.find((x) => x.name === f)?.kind ?? 'standby'), h('td', { class: p ? '' : 'err' }, p?.server ?? 'unplaced'),
      h('td', {}, p?.requests ? String(p.requests.cpu) : '–'), h('td', {}, p?.requests ? fmt(p.requests.memory, 'B') : '–'), h('td', {}, sel, go)));
  }
  const user = h('input', { type: 'search', placeholder: 'user id', 'aria-label': 'user' });
  const con = h('button', {}, 'connect user');
  const dis = h('button', {}, 'disconnect user');
  disableUnless(con, 'connect', 'connect a user');
  disableUnless(dis, 'disconnect', 'disconnect a user');
  con.onclick = () => void op('connect', { namespace: k.split('/')[0] ?? 'default', name: k.split('/')[1] ?? '', user: (user as HTMLInputElement).value });
  dis.onclick = () => void op('disconnect', { namespace: k.split('/')[0] ?? 'default', name: k.split('/')[1] ?? '', user: (user as HTMLInputElement).value });
  $('net-controls').replaceChildren(user, con, dis);
}

function disableUnless(b: HTMLButtonElement, cap: keyof typeof caps, what: string): void {
  if (caps[cap]) return;
  b.disabled = true;
  b.title = `The API has no endpoint to ${what} yet (/openapi.json lists none); this button enables itself when it does.`;
}

/** Calls an operation endpoint found in /openapi.json, filling its {parameters}. */
async function op(cap: keyof typeof caps, params: Record<string, string>): Promise<void> {
  const path = caps[cap].replace(/\{(\w+)\}/g, (_m, p: string) => encodeURIComponent(params[p] ?? ''));
  try {
    await api.req('POST', path, JSON.stringify(params), 'application/json');
    toast(`${cap}: done`, false);
  } catch (e) {
    toast(`${cap}: ${e instanceof Error ? e.message : String(e)}`, true);
  }
}
function toast(text: string, bad: boolean): void {
  const el = h('div', { class: bad ? 'err' : 'ok', role: 'status' }, text);
  $('apply-result').replaceChildren(el);
  const t = $('net-head');
  t.append(h('div', { class: bad ? 'err' : 'ok' }, text));
}

function renderServerControls(): void {
  dirty.servers = false;
  const sel = h('select', { id: 'op-server', 'aria-label': 'server' }, ...[...S.servers.keys()].sort().map((s) => h('option', { value: s }, s)));
  const drain = h('button', { id: 'op-drain' }, 'drain server');
  const fail = h('button', { id: 'op-fail', class: 'danger' }, 'fail server');
  disableUnless(drain, 'drain', 'drain a server');
  disableUnless(fail, 'fail', 'fail a server');
  drain.onclick = () => void op('drain', { name: (sel as HTMLSelectElement).value, server: (sel as HTMLSelectElement).value });
  fail.onclick = () => void op('fail', { name: (sel as HTMLSelectElement).value, server: (sel as HTMLSelectElement).value });
  $('server-controls').replaceChildren(sel, drain, fail);
}

const evList = new VList<SwEvent>($('ev-scroll'), $('ev-spacer'), $('ev-rows'), 28, (e) => {
  const o = e.involvedObject;
  const migration = /resched|migrat|evict|drain|failover/i.test(e.reason);
  return h('div', { class: `row ev ${e.type}${migration ? ' migration' : ''}`, title: e.message },
    h('span', { class: 'when' }, new Date(e.lastTimestamp).toLocaleTimeString()),
    h('span', { class: 'reason' }, `${migration ? '⇄ ' : ''}${e.reason}`),
    h('span', { class: 'obj' }, `${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`),
    h('span', { class: 'grow' }, `${e.message}${e.count > 1 ? ` (×${e.count})` : ''}`));
});
function renderEvents(): void {
  dirty.events = false;
  const f = ($('ev-filter') as HTMLInputElement).value.trim().toLowerCase();
  const warn = ($('ev-warn') as HTMLInputElement).checked;
  const items = [...S.events.values()]
    .filter((e) => (!warn || e.type === 'Warning') && (!f || `${e.reason} ${e.involvedObject.kind} ${e.involvedObject.namespace ?? ''}/${e.involvedObject.name} ${e.message}`.toLowerCase().includes(f)))
    .sort((a, b) => b.lastTimestamp.localeCompare(a.lastTimestamp));
  $('ev-count').textContent = `${items.length} events`;
  evList.set(items);
}

// ---------- charts ----------
const HIST = 300;
const infraHist: { t: number[]; power: number[]; energy: number[]; active: number[]; fns: number[] } = { t: [], power: [], energy: [], active: [], fns: [] };
let netHist: { t: number[]; bits: number[]; frames: number[]; p50: (number | null)[]; p99: (number | null)[]; loss: (number | null)[]; tokens: (number | null)[] } = { t: [], bits: [], frames: [], p50: [], p99: [], loss: [], tokens: [] };
let lastSample: { t: number; bytes: number; frames: number; fnBytes: Map<string, number> } | undefined;
const axisStyle = { stroke: '#8895a3', grid: { stroke: '#26313d' }, ticks: { stroke: '#26313d' } };
const yAxis = { ...axisStyle, size: 56, values: (_u: uPlot, splits: number[]) => splits.map((v) => (Math.abs(v) >= 1000 ? fmt(v) : String(Number(v.toPrecision(4))))) };
function mkPlot(title: string, series: { label: string; stroke: string; scale?: string }[], el: HTMLElement, scales: string[] = []): uPlot {
  return new uPlot(
    { title, width: 460, height: 180, series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 1.5, ...(s.scale ? { scale: s.scale } : {}) }))], axes: [axisStyle, yAxis, ...scales.map((sc) => ({ ...yAxis, scale: sc, side: 1 as const }))] },
    [[], ...series.map(() => [])],
    el,
  );
}
const energyPlot = mkPlot('power (W) and energy (Wh)', [{ label: 'power W', stroke: '#f5a524' }, { label: 'energy Wh', stroke: '#3ecf8e', scale: 'wh' }], $('chart-energy'), ['wh']);
const activePlot = mkPlot('active servers and placed functions', [{ label: 'active servers', stroke: '#4aa3ff' }, { label: 'functions', stroke: '#c678dd', scale: 'f' }], $('chart-active'), ['f']);
let netPlots: { tp: uPlot; lat?: uPlot; other?: uPlot } | undefined;
let netPlotsFor = '';

function push<T>(a: T[], v: T): void {
  a.push(v);
  if (a.length > HIST) a.shift();
}
/** Reads a figure the agents may write, trying the names in use: first found wins. */
function pick(o: Record<string, unknown> | undefined, paths: string[]): number | undefined {
  for (const p of paths) {
    let v: unknown = o;
    for (const part of p.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined;
    if (num(v) !== undefined) return v as number;
  }
  return undefined;
}
function sample(): void {
  const t = Date.now() / 1000;
  let power = 0;
  let energy = 0;
  const used = new Set<string>();
  for (const p of S.placements.values()) used.add(p.server);
  for (const s of S.servers.values()) {
    power += num(s.status?.['powerWatts']) ?? 0;
    energy += (num(s.status?.['energyJoules']) ?? 0) / 3600;
  }
  push(infraHist.t, t);
  push(infraHist.power, power);
  push(infraHist.energy, energy);
  push(infraHist.active, used.size);
  push(infraHist.fns, S.placements.size);
  if (view === 'infra') drawInfraCharts();
  if (selected) sampleNet(selected, t);
}
function drawInfraCharts(): void {
  energyPlot.setData([infraHist.t, infraHist.power, infraHist.energy]);
  activePlot.setData([infraHist.t, infraHist.active, infraHist.fns]);
  $('chart-energy').dataset['lastWatts'] = String(infraHist.power.at(-1) ?? 0);
  $('chart-active').dataset['points'] = String(infraHist.t.length);
}
function sampleNet(k: string, t: number): void {
  const [ns, name] = k.split('/') as [string, string];
  let bytes = 0;
  let frames = 0;
  // Counters move only when an agent reports (every few seconds): rates are taken between
  // report times, and a point is added only when a report is newer than the last one.
  let reported = 0;
  const fnBytes = new Map<string, number>();
  for (const s of S.servers.values()) {
    const doms = s.status?.['domains'];
    if (!Array.isArray(doms)) continue;
    const at = Date.parse(String((s.status?.['agent'] as Record<string, unknown> | undefined)?.['reportedAt'] ?? ''));
    for (const d of doms as Record<string, unknown>[]) {
      if (d['network'] !== k && d['network'] !== name && d['network'] !== `${ns}.${name}`) continue;
      reported = Math.max(reported, Number.isFinite(at) ? at / 1000 : t);
      frames += num(d['processed']) ?? 0;
      for (const [fn, v] of Object.entries((d['traffic'] as Record<string, Record<string, unknown>> | undefined) ?? {})) fnBytes.set(fn, (fnBytes.get(fn) ?? 0) + (num(v['bytes']) ?? 0));
    }
  }
  // Throughput is what the sinks received; sources count what they sent (the same bytes again).
  const kinds = new Map(((S.nets.get(k)?.spec?.['functions'] as { name: string; kind?: string }[] | undefined) ?? []).map((f) => [f.name, f.kind ?? '']));
  const sinks = [...fnBytes.keys()].filter((fn) => /sink/.test(kinds.get(fn) ?? ''));
  for (const fn of sinks.length ? sinks : fnBytes.keys()) bytes += fnBytes.get(fn) ?? 0;
  const st = S.nets.get(k)?.status;
  if (reported > 0) t = reported;
  if (lastSample && t <= lastSample.t) return;
  if (lastSample) {
    const dt = Math.max(1e-3, t - lastSample.t);
    push(netHist.t, t);
    push(netHist.bits, Math.max(0, ((bytes - lastSample.bytes) * 8) / dt));
    push(netHist.frames, Math.max(0, (frames - lastSample.frames) / dt));
    // Each traffic sink's received rate on its node in the topology (no relayout).
    for (const [fn, b] of fnBytes) {
      const node = cy?.getElementById(`fn:${fn}`);
      const prev = lastSample.fnBytes.get(fn);
      if (node && node.nonempty() && prev !== undefined) node.data('label', `${String(node.data('base') ?? fn)}\n${fmt(Math.max(0, ((b - prev) * 8) / dt), 'bit/s')}`);
    }
    push(netHist.p50, pick(st, ['latency.p50', 'latencyP50', 'traffic.latency.p50', 'metrics.latency.p50']) ?? null);
    push(netHist.p99, pick(st, ['latency.p99', 'latencyP99', 'traffic.latency.p99', 'metrics.latency.p99']) ?? null);
    push(netHist.loss, pick(st, ['loss', 'lossRatio', 'traffic.loss', 'metrics.loss']) ?? null);
    push(netHist.tokens, pick(st, ['tokens.balance', 'tokenBalance', 'tokens', 'metrics.tokens']) ?? null);
  }
  lastSample = { t, bytes, frames, fnBytes };
  if (view !== 'nets') return;
  const box = $('net-charts');
  if (netPlotsFor !== k || !netPlots) {
    box.replaceChildren();
    const a = h('div', { class: 'chart' });
    box.append(a);
    netPlots = { tp: mkPlot(`${k}: throughput received by the sinks`, [{ label: 'bit/s', stroke: '#4aa3ff' }, { label: 'frames/s', stroke: '#3ecf8e', scale: 'fps' }], a, ['fps']) };
    netPlotsFor = k;
  }
  netPlots.tp.setData([netHist.t, netHist.bits, netHist.frames]);
  box.dataset['points'] = String(netHist.t.length);
  box.dataset['maxBits'] = String(Math.max(0, ...netHist.bits));
  const hasLat = netHist.p50.some((v) => v !== null) || netHist.p99.some((v) => v !== null);
  const hasOther = netHist.loss.some((v) => v !== null) || netHist.tokens.some((v) => v !== null);
  if (hasLat && !netPlots.lat) {
    const el = h('div', { class: 'chart' });
    box.append(el);
    netPlots.lat = mkPlot('latency (ms)', [{ label: 'p50', stroke: '#3ecf8e' }, { label: 'p99', stroke: '#ff5c5c' }], el);
  }
  if (hasOther && !netPlots.other) {
    const el = h('div', { class: 'chart' });
    box.append(el);
    netPlots.other = mkPlot('loss and token balance', [{ label: 'loss', stroke: '#ff5c5c' }, { label: 'tokens', stroke: '#f5a524', scale: 'tok' }], el, ['tok']);
  }
  netPlots.lat?.setData([netHist.t, netHist.p50, netHist.p99]);
  netPlots.other?.setData([netHist.t, netHist.loss, netHist.tokens]);
  if (!hasLat && !hasOther && !box.querySelector('.note')) box.append(h('div', { class: 'chart' }, h('div', { class: 'note' }, 'No agent reports latency, loss or token balance for this network yet; they appear here when its status carries them.')));
  if ((hasLat || hasOther) && box.querySelector('.note')) box.querySelector('.note')?.parentElement?.remove();
}

// ---------- apply ----------
async function applyManifest(del: boolean): Promise<void> {
  const text = ($('apply-text') as HTMLTextAreaElement).value;
  const file = $('apply-name').textContent || 'dashboard.yaml';
  const out = $('apply-result');
  out.replaceChildren(h('p', { class: 'muted' }, del ? 'deleting…' : 'applying…'));
  try {
    const r = await api.req<{ revision: number; changes: { kind: string; name: string; namespace?: string; action: string }[] }>('POST', `/api/v1/${del ? 'delete' : 'apply'}?file=${encodeURIComponent(file)}`, text);
    out.replaceChildren(h('p', { class: 'ok' }, `revision ${r.revision}`), h('ul', {}, ...r.changes.map((c) => h('li', {}, `${c.kind} ${c.namespace ? `${c.namespace}/` : ''}${c.name} ${c.action}`))));
  } catch (e) {
    if (e instanceof HttpError && e.body.issues?.length) {
      out.replaceChildren(h('p', { class: 'err' }, `${e.body.issues.length} problem(s); nothing was changed`), h('ul', { id: 'apply-issues' }, ...e.body.issues.map((i: Issue) => h('li', { class: 'err' }, `${i.file}:${i.line}:${i.column}: ${i.message}`))));
    } else out.replaceChildren(h('p', { class: 'err' }, e instanceof Error ? e.message : String(e)));
  }
}

// ---------- wiring ----------
function show(v: View): void {
  view = v;
  for (const b of document.querySelectorAll<HTMLButtonElement>('#tabs button')) b.classList.toggle('on', b.dataset['tab'] === v);
  for (const s of document.querySelectorAll('.tab')) s.classList.toggle('on', s.id === `tab-${v}`);
  Object.assign(dirty, v === 'infra' ? { infra: true } : v === 'nets' ? { netList: true, netSel: true } : v === 'events' ? { events: true } : { servers: true });
  render();
  if (v === 'nets') cy?.resize();
  if (v === 'infra') drawInfraCharts();
}
function showLogin(why: string): void {
  $('login').hidden = false;
  $('login-error').textContent = why;
}

async function start(token: string): Promise<void> {
  api = new Api(token);
  $('login').hidden = true;
  try {
    await loadAll();
  } catch (e) {
    return showLogin(e instanceof HttpError && e.status === 401 ? 'the token was refused' : `the API does not answer: ${e instanceof Error ? e.message : String(e)}`);
  }
  saveToken(token);
  render();
  document.body.dataset['ready'] = '1';
  performance.mark('swnet-ready');
  connect();
  await detectCapabilities();
  dirty.servers = dirty.netSel = true;
  render();
  sample();
  setInterval(sample, 1000);
}

for (const b of document.querySelectorAll<HTMLButtonElement>('#tabs button')) b.onclick = () => show(b.dataset['tab'] as View);
$('net-filter').oninput = () => {
  dirty.netList = true;
  render();
};
$('ev-filter').oninput = $('ev-warn').onchange = () => {
  dirty.events = true;
  render();
};
$('apply-go').onclick = () => void applyManifest(false);
$('apply-delete').onclick = () => void applyManifest(true);
($('apply-file') as HTMLInputElement).onchange = async () => {
  const f = ($('apply-file') as HTMLInputElement).files?.[0];
  if (!f) return;
  ($('apply-text') as HTMLTextAreaElement).value = await f.text();
  $('apply-name').textContent = f.name;
};
($('apply-text') as HTMLTextAreaElement).oninput = () => {
  if (!($('apply-file') as HTMLInputElement).files?.length) $('apply-name').textContent = 'dashboard.yaml';
};
$('login-form').onsubmit = (e) => {
  e.preventDefault();
  void start(($('login-token') as HTMLInputElement).value.trim());
};
const t0 = initialToken();
if (t0) void start(t0);
else showLogin('');
