/**
 * The swnet dashboard: lists everything once, then follows the watch stream (resuming from the
 * last revision after a reconnect). Watch messages are queued and applied once per animation
 * frame, and only the visible view is redrawn, so a burst of thousands of changes costs one
 * render. Long lists (networks, charts, timeline) are virtualised; only the selected network's
 * topology is laid out. Charts are fed by the agents' Server status writes as they arrive over
 * the watch (series.ts), never by polling.
 */
import type cytoscape from 'cytoscape';
import { Api, HttpError, initialToken, saveToken, type Issue, type Migration, type Placement, type Resource, type SwEvent, type WatchMsg } from './api.js';
import { fmt, mkPlot, NetCard } from './charts.js';
import { HIST, SeriesStore, domainNetKey } from './series.js';

// ---------- state ----------
const S = {
  dcs: new Map<string, Resource>(),
  servers: new Map<string, Resource>(),
  links: new Map<string, Resource>(),
  nets: new Map<string, Resource>(),
  templates: new Map<string, Resource>(),
  placements: new Map<string, Placement>(),
  byNet: new Map<string, Map<string, Placement>>(),
  events: new Map<string, SwEvent>(),
  /** `ns/network/id` → the migration; kept after the controller deletes it (the timeline's history). */
  migrations: new Map<string, Migration>(),
  revision: 0,
};
const series = new SeriesStore();
type View = 'infra' | 'nets' | 'charts' | 'events' | 'apply';
let view: View = 'infra';
const dirty = { infra: true, netList: true, netSel: true, events: true, servers: true, charts: true, ops: true, forms: true, infraSeries: false };
/** Networks whose series got a point since the last render. */
const fresh = new Set<string>();
let netOrder: string[] = [];
let netOrderStale = true;
let selected: string | null = null;
let api: Api;
const caps = { drain: '', uncordon: '', fail: '', migrate: '', connect: '', disconnect: '' };
const MAX_MIGRATIONS = 5000;

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;
const h = <K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<Record<string, string>> = {}, ...kids: (Node | string)[]): HTMLElementTagNameMap[K] => {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) if (v !== undefined) el.setAttribute(k, v);
  el.append(...kids);
  return el;
};
const netKey = (ns: string | undefined, name: string): string => `${ns ?? 'default'}/${name}`;
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const migKey = (m: { namespace: string; network: string; id: string }): string => `${m.namespace}/${m.network}/${m.id}`;

function parseCpu(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return 0;
  return v.endsWith('m') ? Number(v.slice(0, -1)) / 1000 : Number(v) || 0;
}

/** Names of a network's traffic sinks (their received bytes are its throughput). */
const sinkCache = new Map<string, { gen: string; set: Set<string> }>();
function sinksOf(k: string): Set<string> | undefined {
  const n = S.nets.get(k);
  if (!n) return undefined;
  const gen = n.metadata.resourceVersion ?? String(n.metadata.generation ?? '');
  const c = sinkCache.get(k);
  if (c && c.gen === gen) return c.set;
  const set = new Set(((n.spec?.['functions'] as { name: string; kind?: string }[] | undefined) ?? []).filter((f) => /sink/.test(f.kind ?? '')).map((f) => f.name));
  sinkCache.set(k, { gen, set });
  return set;
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
  return kind === 'Datacenter' ? S.dcs : kind === 'Server' ? S.servers : kind === 'Link' ? S.links : kind === 'SoftwareNetwork' ? S.nets : kind === 'UserNetworkTemplate' ? S.templates : undefined;
}
function putResource(r: Resource, receivedAt: number): void {
  const m = mapOf(r.kind);
  if (!m) return;
  const namespaced = r.kind === 'SoftwareNetwork' || r.kind === 'UserNetworkTemplate';
  const k = namespaced ? netKey(r.metadata.namespace, r.metadata.name) : r.metadata.name;
  if (r.kind === 'SoftwareNetwork') {
    if (!m.has(k)) netOrderStale = dirty.charts = dirty.forms = true;
    dirty.netList = true;
    if (k === selected) dirty.netSel = true;
  } else if (r.kind === 'UserNetworkTemplate') dirty.forms = true;
  else {
    if (r.kind === 'Server' && !m.has(k)) dirty.forms = true;
    dirty.infra = dirty.servers = dirty.infraSeries = true;
  }
  m.set(k, r);
  if (r.kind === 'Server') ingestServer(r, receivedAt);
}
function ingestServer(r: Resource, at: number): void {
  const changed = series.ingest(r.metadata.name, r.status, at, sinksOf);
  for (const k of changed) {
    if (!fresh.has(k) && series.nets.get(k)?.t.length === 1) dirty.charts = true;
    fresh.add(k);
  }
  if (selected && changed.has(selected)) sinkRates(r, selected, at);
}
function putMigration(m: Migration): void {
  const k = migKey(m);
  if (!S.migrations.has(k) && S.migrations.size >= MAX_MIGRATIONS) {
    // Oldest finished ones go first: the timeline keeps what is still moving.
    for (const [ok, om] of S.migrations) {
      if (om.phase === 'done' || om.phase === 'failed') {
        S.migrations.delete(ok);
        break;
      }
    }
  }
  S.migrations.set(k, m);
  dirty.events = dirty.ops = true;
  if (netKey(m.namespace, m.network) === selected) dirty.netSel = true;
  for (const op of ops) if (op.track(m)) op.migrations.add(k);
}
function apply(msg: WatchMsg, at: number): void {
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
  if (o['kind'] === 'Migration' || msg.key?.startsWith('/swnet/migration/')) {
    // Deleted by the controller a minute after it ended: the timeline keeps its last state.
    if (!del && typeof o['id'] === 'string' && Array.isArray(o['timeline'])) putMigration(o as unknown as Migration);
    return;
  }
  if (typeof o['network'] === 'string' && typeof o['function'] === 'string') {
    const p = o as unknown as Placement;
    if (del) dropPlacement(p.namespace, p.network, p.function);
    else putPlacement(p);
    dirty.infra = dirty.netList = dirty.infraSeries = dirty.ops = true;
    return;
  }
  const r = o as unknown as Resource;
  if (typeof r.kind !== 'string' || !r.metadata) return;
  if (del) {
    const m = mapOf(r.kind);
    if (!m) return;
    if (r.kind === 'SoftwareNetwork' || r.kind === 'UserNetworkTemplate') {
      m.delete(netKey(r.metadata.namespace, r.metadata.name));
      if (r.kind === 'SoftwareNetwork') {
        series.dropNet(netKey(r.metadata.namespace, r.metadata.name));
        sinkCache.delete(netKey(r.metadata.namespace, r.metadata.name));
      }
      netOrderStale = dirty.netList = dirty.charts = dirty.forms = true;
    } else {
      m.delete(r.metadata.name);
      if (r.kind === 'Server') for (const k of series.forget(r.metadata.name, at)) fresh.add(k);
      dirty.infra = dirty.servers = dirty.infraSeries = dirty.forms = true;
    }
  } else putResource(r, at);
}

const queue: WatchMsg[] = [];
let frame = 0;
function enqueue(m: WatchMsg): void {
  queue.push(m);
  if (!frame) frame = requestAnimationFrame(flush);
}
function flush(): void {
  frame = 0;
  const at = Date.now();
  for (const m of queue.splice(0)) apply(m, at);
  render();
}

// ---------- loading and watching ----------
async function loadAll(): Promise<void> {
  const { revision } = await api.get<{ revision: number }>('/healthz');
  // Events, migrations and templates are not needed for the first view: they fill in when they come.
  const later = [api.get<{ items: SwEvent[] }>('/api/v1/events'), api.get<{ items: Migration[] }>('/api/v1/migrations'), api.get<{ items: Resource[] }>('/api/v1/usernetworktemplates')] as const;
  for (const p of later) p.catch(() => undefined); // a refused token is reported by the lists below
  const [dcs, servers, links, nets, pls] = await Promise.all([
    api.get<{ items: Resource[] }>('/api/v1/datacenters'),
    api.get<{ items: Resource[] }>('/api/v1/servers'),
    api.get<{ items: Resource[] }>('/api/v1/links'),
    api.get<{ items: Resource[] }>('/api/v1/softwarenetworks'),
    api.get<{ items: Placement[] }>('/api/v1/placements'),
  ]);
  for (const m of [S.dcs, S.servers, S.links, S.nets, S.templates, S.placements, S.byNet, S.events]) m.clear();
  const at = Date.now();
  for (const r of [...dcs.items, ...servers.items, ...links.items, ...nets.items]) putResource(r, at);
  for (const p of pls.items) putPlacement(p);
  const [evsP, migsP, tplP] = later;
  void evsP.then((evs) => {
    for (const e of evs.items) if (!S.events.has(`${e.metadata.namespace}/${e.metadata.name}`)) S.events.set(`${e.metadata.namespace}/${e.metadata.name}`, e);
    dirty.events = true;
    render();
  }, () => undefined);
  void migsP.then((ms) => {
    for (const m of ms.items) if (!S.migrations.has(migKey(m))) putMigration(m);
    render();
  }, () => undefined); // an API without migrations: they come over the watch only
  void tplP.then((ts) => {
    for (const t of ts.items) S.templates.set(netKey(t.metadata.namespace, t.metadata.name), t);
    dirty.forms = true;
    render();
  }, () => undefined);
  // Changes made while listing come again from the watch (revision > the one read first); applying them twice is harmless.
  S.revision = revision;
  netOrderStale = true;
  Object.assign(dirty, { infra: true, netList: true, netSel: true, events: true, servers: true, charts: true, forms: true, infraSeries: true });
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
  if (dirty.infraSeries) infraTick();
  if (view === 'infra' && dirty.infra) renderInfra();
  if (view === 'nets') {
    if (dirty.netList) renderNetList();
    if (dirty.netSel) renderSelected();
  }
  if (view === 'charts') renderCharts();
  if (view === 'events' && dirty.events) renderEvents();
  if (view === 'apply' && (dirty.servers || dirty.forms)) renderForms();
  if (dirty.ops) renderOps();
  // Charts in view get their new points (one setData per chart per frame).
  for (const k of fresh) {
    for (const c of cards.get(k) ?? []) c.update(series.nets.get(k));
    if (k === selected) mirrorSelected();
  }
  fresh.clear();
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
interface Facts { fns: number; reqCpu: number; cap: number; util?: number; power?: number; energy?: number; state: 'active' | 'idle' | 'standby' | 'down' | string; cordoned: boolean }
function serverFacts(s: Resource, use: Map<string, { fns: number; cpu: number }>): Facts {
  const fns = use.get(s.metadata.name)?.fns ?? 0;
  const reqCpu = use.get(s.metadata.name)?.cpu ?? 0;
  const st = s.status ?? {};
  const util = num((st['utilization'] as Record<string, unknown> | undefined)?.['cpu']);
  const power = num(st['powerWatts']);
  const energy = num(st['energyJoules']);
  const ready = st.conditions?.find((c) => c.type === 'Ready');
  const declared = typeof st['state'] === 'string' ? st['state'] : st['standby'] === true ? 'standby' : undefined;
  const state = ready?.status === 'False' ? 'down' : declared ?? (fns === 0 ? 'idle' : 'active');
  const cordoned = s.spec?.['unschedulable'] === true || st['cordoned'] === true;
  return { fns, reqCpu, cap: parseCpu((s.spec?.['capacity'] as Record<string, unknown> | undefined)?.['cpu']), ...(util !== undefined ? { util } : {}), ...(power !== undefined ? { power } : {}), ...(energy !== undefined ? { energy } : {}), state, cordoned };
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
  let moving = 0;
  for (const m of S.migrations.values()) if (m.phase !== 'done' && m.phase !== 'failed') moving++;
  $('kpis').replaceChildren(
    h('b', { id: 'kpi-servers' }, `${active}/${S.servers.size} servers active`),
    h('b', { id: 'kpi-nets' }, `${S.nets.size} networks`),
    h('b', {}, `${S.placements.size} functions placed`),
    h('b', {}, `${fmt(power, 'W')}`),
    h('b', { id: 'kpi-moving' }, moving ? `${moving} migrating` : ''),
    h('span', { id: 'kpi-rev', 'data-rev': String(S.revision) }, `rev ${S.revision}`),
  );
}

// ---------- infrastructure ----------
const TIER_ORDER = ['core', 'central', 'cloud', 'regional', 'metro', 'edge', 'femto', 'mec', 'access'];
let infraSig = '';
const infraRows = new Map<string, { state: HTMLElement; fns: HTMLElement; req: HTMLElement; util: HTMLElement; power: HTMLElement; energy: HTMLElement; count?: HTMLElement }>();
const dcCounts = new Map<string, HTMLElement>();
const bar = (frac: number, cls = ''): HTMLElement => h('span', { class: `bar ${cls}` }, h('i', { style: `width:${(Math.max(0, Math.min(1, frac)) * 100).toFixed(0)}%` }));
/** The structure (tiers, datacenters, server rows, buttons) is built when it changes; a status write updates cells in place. */
function renderInfra(): void {
  dirty.infra = false;
  const dcOf = (s: Resource): string => (typeof s.spec?.['datacenter'] === 'string' ? (s.spec['datacenter'] as string) : '');
  const sig = JSON.stringify([[...S.dcs.values()].map((d) => [d.metadata.name, d.spec?.['tier'], (d.spec?.['location'] as Record<string, unknown> | undefined)?.['city']]), [...S.servers.values()].map((s) => [s.metadata.name, dcOf(s)]), caps]);
  if (sig !== infraSig) {
    infraSig = sig;
    infraRows.clear();
    dcCounts.clear();
    const byDc = new Map<string, Resource[]>();
    for (const s of S.servers.values()) byDc.set(dcOf(s), [...(byDc.get(dcOf(s)) ?? []), s]);
    const tiers = new Map<string, Resource[]>();
    for (const d of S.dcs.values()) {
      const t = typeof d.spec?.['tier'] === 'string' ? (d.spec['tier'] as string) : 'unknown';
      tiers.set(t, [...(tiers.get(t) ?? []), d]);
    }
    const rank = (t: string): number => TIER_ORDER.indexOf(t) + 1 || 99;
    const out = h('div');
    const dcCard = (name: string, dc: Resource | undefined): HTMLElement => {
      const servers = (byDc.get(name) ?? []).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name, undefined, { numeric: true }));
      const loc = dc?.spec?.['location'] as Record<string, unknown> | undefined;
      const table = h('table', {}, h('tr', {}, ...['server', 'state', 'functions', 'CPU requested', 'utilisation', 'power', 'energy', ''].map((c) => h('th', {}, c))));
      for (const s of servers) {
        const n = s.metadata.name;
        const cells = { state: h('td'), fns: h('td'), req: h('td'), util: h('td'), power: h('td'), energy: h('td') };
        const btn = (opName: 'drain' | 'uncordon' | 'fail', label: string, cls = ''): HTMLButtonElement => {
          const b = h('button', { class: `small ${cls}`, 'data-op': opName, 'data-server': n }, label);
          disableUnless(b, opName, `${opName} a server`);
          return b;
        };
        table.append(h('tr', { 'data-server': n }, h('td', {}, n), cells.state, cells.fns, cells.req, cells.util, cells.power, cells.energy, h('td', { class: 'acts' }, btn('drain', 'drain'), btn('uncordon', 'uncordon'), btn('fail', 'fail', 'danger'))));
        infraRows.set(n, cells);
      }
      const count = h('span', { class: 'muted' });
      dcCounts.set(name, count);
      return h('div', { class: 'dc', 'data-dc': name }, h('h3', {}, name || '(no datacenter)', h('span', { class: 'muted' }, loc && typeof loc['city'] === 'string' ? ` · ${loc['city']}` : ''), count), table);
    };
    for (const [tier, dcs] of [...tiers].sort((a, b) => rank(a[0]) - rank(b[0]))) {
      out.append(h('div', { class: 'tier', 'data-tier': tier }, h('h2', {}, tier), h('div', { class: 'dcs' }, ...dcs.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name)).map((d) => dcCard(d.metadata.name, d)))));
    }
    const orphans = [...byDc.keys()].filter((n) => !S.dcs.has(n));
    if (orphans.length) out.append(h('div', { class: 'tier' }, h('h2', {}, 'unknown datacenter'), h('div', { class: 'dcs' }, ...orphans.map((n) => dcCard(n, undefined)))));
    if (!S.servers.size && !S.dcs.size) out.append(h('p', { class: 'muted' }, 'No datacenters or servers yet: apply a manifest (Apply tab).'));
    $('infra').replaceChildren(out);
  }
  const use = perServer();
  const perDc = new Map<string, { n: number; on: number; watts: number }>();
  for (const s of S.servers.values()) {
    const cells = infraRows.get(s.metadata.name);
    if (!cells) continue;
    const f = serverFacts(s, use);
    const stateCls = f.state === 'active' ? 'on' : f.state === 'down' ? 'down' : 'standby';
    cells.state.className = `state-${stateCls}${f.cordoned ? ' cordoned' : ''}`;
    cells.state.textContent = f.cordoned ? `${f.state} · cordoned` : f.state;
    cells.fns.textContent = String(f.fns);
    cells.req.replaceChildren(bar(f.cap > 0 ? f.reqCpu / f.cap : 0), ` ${f.reqCpu.toFixed(1)}/${f.cap}`);
    cells.util.replaceChildren(...(f.util !== undefined ? [bar(f.util, f.util > 0.8 ? 'hot' : ''), ` ${(f.util * 100).toFixed(0)}%`] : ['–']));
    cells.power.textContent = f.power !== undefined ? `${f.power.toFixed(0)} W` : '–';
    cells.energy.textContent = f.energy !== undefined ? `${(f.energy / 3600).toFixed(1)} Wh` : '–';
    const dc = typeof s.spec?.['datacenter'] === 'string' ? (s.spec['datacenter'] as string) : '';
    const e = perDc.get(dc) ?? { n: 0, on: 0, watts: 0 };
    e.n++;
    if (f.state === 'active') e.on++;
    e.watts += f.power ?? 0;
    perDc.set(dc, e);
  }
  for (const [dc, el] of dcCounts) {
    const e = perDc.get(dc) ?? { n: 0, on: 0, watts: 0 };
    el.textContent = ` · ${e.on}/${e.n} servers active · ${e.watts.toFixed(0)} W`;
  }
}

// ---------- infrastructure series (energy, active/standby servers) ----------
const infraHist: { t: number[]; power: number[]; energy: number[]; active: number[]; standby: number[]; fns: number[] } = { t: [], power: [], energy: [], active: [], standby: [], fns: [] };
const energyPlot = mkPlot('power (W) and energy (Wh)', [{ label: 'power W', stroke: '#f5a524' }, { label: 'energy Wh', stroke: '#3ecf8e', scale: 'wh' }], $('chart-energy'));
const activePlot = mkPlot('servers and placed functions', [{ label: 'active', stroke: '#4aa3ff' }, { label: 'standby/idle', stroke: '#8895a3' }, { label: 'functions', stroke: '#c678dd', scale: 'f' }], $('chart-active'));
let infraLast = 0;
let infraTimer = 0;
function pushCap<T>(a: T[], v: T): void {
  a.push(v);
  if (a.length > HIST) a.shift();
}
/** At most one infrastructure point per 500 ms, the last change of a burst included. */
function infraTick(): void {
  const now = Date.now();
  if (now - infraLast >= 500) sampleInfra(now);
  else if (!infraTimer) infraTimer = window.setTimeout(() => {
    infraTimer = 0;
    sampleInfra(Date.now());
  }, 500 - (now - infraLast));
}
function sampleInfra(now: number): void {
  dirty.infraSeries = false;
  infraLast = now;
  let power = 0;
  let energy = 0;
  let active = 0;
  let standby = 0;
  const use = perServer();
  for (const s of S.servers.values()) {
    power += num(s.status?.['powerWatts']) ?? 0;
    energy += (num(s.status?.['energyJoules']) ?? 0) / 3600;
    const st = serverFacts(s, use).state;
    if (st === 'active') active++;
    else if (st !== 'down') standby++;
  }
  pushCap(infraHist.t, now / 1000);
  pushCap(infraHist.power, power);
  pushCap(infraHist.energy, energy);
  pushCap(infraHist.active, active);
  pushCap(infraHist.standby, standby);
  pushCap(infraHist.fns, S.placements.size);
  if (view === 'infra') drawInfraCharts();
}
function drawInfraCharts(): void {
  energyPlot.setData([infraHist.t, infraHist.power, infraHist.energy]);
  activePlot.setData([infraHist.t, infraHist.active, infraHist.standby, infraHist.fns]);
  $('chart-energy').dataset['lastWatts'] = String(infraHist.power.at(-1) ?? 0);
  $('chart-active').dataset['points'] = String(activePlot.data[0].length);
}

// ---------- virtual lists ----------
/** A list that renders only the rows in view (fixed row height). */
class VList<T> {
  items: T[] = [];
  constructor(private readonly scroll: HTMLElement, private readonly spacer: HTMLElement, private readonly rows: HTMLElement, private readonly rowH: number, private readonly row: (t: T) => HTMLElement, private readonly overscan = 5, private readonly drawn?: (shown: T[]) => void) {
    scroll.addEventListener('scroll', () => this.draw(), { passive: true });
    new ResizeObserver(() => this.draw()).observe(scroll);
  }
  set(items: T[]): void {
    this.items = items;
    this.draw();
  }
  draw(): void {
    this.spacer.style.height = `${this.items.length * this.rowH}px`;
    const first = Math.max(0, Math.floor(this.scroll.scrollTop / this.rowH) - this.overscan);
    const n = Math.ceil((this.scroll.clientHeight || 600) / this.rowH) + 2 * this.overscan;
    const shown = this.items.slice(first, first + n);
    this.rows.style.transform = `translateY(${first * this.rowH}px)`;
    this.rows.replaceChildren(...shown.map(this.row));
    this.drawn?.(shown);
  }
}

// ---------- software networks ----------
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

function sortedNets(): string[] {
  if (netOrderStale) {
    netOrder = [...S.nets.keys()].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
    netOrderStale = false;
  }
  return netOrder;
}
function renderNetList(): void {
  dirty.netList = false;
  const order = sortedNets();
  const f = ($('net-filter') as HTMLInputElement).value.trim().toLowerCase();
  const items = f ? order.filter((k) => k.toLowerCase().includes(f)) : order;
  $('net-count').textContent = `${items.length} of ${order.length} networks`;
  netList.set(items);
}

let selCard: NetCard | undefined;
function select(k: string): void {
  if (k !== selected) {
    fnLast.clear();
    topoSig = '';
    if (selCard) dropCard(selCard);
    selCard = undefined;
  }
  selected = k;
  dirty.netSel = dirty.netList = true;
  render();
}
/** The selected network's card, registered like the Charts tab's so that new points reach it. */
function mirrorSelected(): void {
  if (!selCard) return;
  const box = $('net-charts');
  box.dataset['points'] = selCard.el.dataset['points'] ?? '0';
  box.dataset['maxBits'] = selCard.el.dataset['maxBits'] ?? '0';
}

/** Received rate of each traffic sink of the selected network, for its topology labels. */
const fnLast = new Map<string, { at: number; bytes: number }>();
function sinkRates(r: Resource, k: string, at: number): void {
  const rep = Date.parse(String((r.status?.['agent'] as Record<string, unknown> | undefined)?.['reportedAt'] ?? ''));
  const t = Number.isFinite(rep) ? rep : at;
  for (const d of (r.status?.['domains'] as Record<string, unknown>[] | undefined) ?? []) {
    if (typeof d['network'] !== 'string' || domainNetKey(d['network']) !== k) continue;
    for (const [fn, v] of Object.entries((d['traffic'] as Record<string, Record<string, unknown>> | undefined) ?? {})) {
      const bytes = num(v['bytes']) ?? 0;
      const prev = fnLast.get(fn);
      fnLast.set(fn, { at: t, bytes });
      const node = cy?.getElementById(`fn:${fn}`);
      if (prev && t > prev.at && node && node.nonempty()) node.data('label', `${String(node.data('base') ?? fn)}\n${fmt(Math.max(0, ((bytes - prev.bytes) * 8 * 1000) / (t - prev.at)), 'bit/s')}`);
    }
    // Frames each port sent: a link's load is the sum of its two ends' rates (each end may be
    // reported by another server, so rates are kept per port and summed per edge).
    for (const [port, v] of Object.entries((d['ports'] as Record<string, unknown> | undefined) ?? {})) {
      const frames = num(v) ?? 0;
      const id = `${k}|${port}`;
      const prev = portRate.get(id);
      const rate = prev && t > prev.at ? Math.max(0, ((frames - prev.frames) * 1000) / (t - prev.at)) : (prev?.rate ?? NaN);
      portRate.set(id, { at: t, frames, rate });
    }
  }
  linkLoads(k);
}

/** Per `network|fn.port`: the last count of frames sent and the rate it gave. */
const portRate = new Map<string, { at: number; frames: number; rate: number }>();
/** Labels each topology edge with the frames per second its two ends sent. */
function linkLoads(k: string): void {
  const loads: Record<string, number> = {};
  cy?.edges().forEach((e) => {
    const ends = e.data('ends') as string[] | undefined;
    if (!ends) return;
    let sum = 0;
    let known = false;
    for (const end of ends) {
      // A bare function name: its port, if the reports name exactly one.
      const ids = end.includes('.') ? [`${k}|${end}`] : [...portRate.keys()].filter((x) => x.startsWith(`${k}|${end}.`));
      const r = ids.length === 1 ? portRate.get(ids[0] as string)?.rate : undefined;
      if (r !== undefined && Number.isFinite(r)) {
        sum += r;
        known = true;
      }
    }
    e.data('label', known ? `${String(e.data('base') ?? '')}${e.data('base') ? '\n' : ''}${fmt(sum, ' fps')}` : String(e.data('base') ?? ''));
    if (known) loads[e.id()] = sum;
  });
  // The canvas can't be read back: the figures are also on the element (tests, accessibility).
  $('topology').dataset['links'] = JSON.stringify(loads);
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
  if (!selCard) {
    selCard = new NetCard(k, { width: 240, height: 140, title: true });
    $('net-charts').replaceChildren(selCard.el);
    addCard(selCard);
    selCard.update(series.nets.get(k));
    mirrorSelected();
  }
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
      const base = [l.latency, l.bandwidth].filter(Boolean).join(' ');
      const ends = (l.endpoints ?? []).map((e) => e.replace(':', '.'));
      if (a && b && known.has(a) && known.has(b)) els.push({ data: { id: `l${i}`, source: `fn:${a}`, target: `fn:${b}`, label: base, base, ends } });
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
          { selector: 'edge', style: { width: 2, 'line-color': '#8895a3', label: 'data(label)', 'font-size': 9, color: '#8895a3', 'curve-style': 'bezier', 'text-wrap': 'wrap' } },
        ],
      });
    }
    cy.elements().remove();
    cy.add(els);
    cy.layout({ name: 'preset', padding: 30, fit: true }).run();
    cy.maxZoom(1.5);
  }
  // Placements with migrate controls.
  const servers = [...S.servers.keys()].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const table = $('net-placements');
  table.replaceChildren(h('tr', {}, ...['function', 'kind', 'server', 'CPU', 'memory', 'migrate to'].map((c) => h('th', {}, c))));
  const [ns, name] = k.split('/') as [string, string];
  for (const f of [...fns.map((f) => f.name), ...placements.filter((p) => p.function.includes('~')).map((p) => p.function)]) {
    const p = pl.get(f);
    const sel = h('select', { 'aria-label': `migrate ${f}` }, ...servers.filter((s) => s !== p?.server).map((s) => h('option', { value: s }, s)));
    const go = h('button', { 'data-op': 'migrate', 'data-fn': f }, 'migrate');
    disableUnless(go, 'migrate', 'migrate a function');
    if (!p) go.disabled = true;
    go.onclick = () => void migrate(ns, name, f, sel.value);
    table.append(h('tr', { 'data-fn': f }, h('td', {}, f), h('td', {}, fns.find((x) => x.name === f)?.kind ?? 'standby'), h('td', { class: p ? '' : 'err' }, p?.server ?? 'unplaced'),
      h('td', {}, p?.requests ? String(p.requests.cpu) : '–'), h('td', {}, p?.requests ? fmt(p.requests.memory, 'B') : '–'), h('td', {}, sel, go)));
  }
  // Migrations of this network, newest first.
  const migs = [...S.migrations.values()].filter((m) => netKey(m.namespace, m.network) === k).sort((a, b) => b.createdAt - a.createdAt).slice(0, 8);
  $('net-controls').replaceChildren(...(migs.length ? [h('h3', {}, 'migrations'), h('div', { class: 'migs' }, ...migs.map(migrationBlock))] : []));
}

/** A destructive button acts on its second click within 4 s (the first one asks to confirm). */
function armed(b: HTMLButtonElement): boolean {
  if (b.dataset['armed'] === '1') {
    delete b.dataset['armed'];
    b.textContent = b.dataset['label'] ?? b.textContent;
    return true;
  }
  b.dataset['label'] = b.textContent ?? '';
  b.dataset['armed'] = '1';
  b.textContent = 'confirm?';
  setTimeout(() => {
    if (b.dataset['armed'] !== '1') return;
    delete b.dataset['armed'];
    b.textContent = b.dataset['label'] ?? '';
  }, 4000);
  return false;
}

function disableUnless(b: HTMLButtonElement, cap: keyof typeof caps, what: string): void {
  if (caps[cap]) return;
  b.disabled = true;
  b.title = `The API has no endpoint to ${what} yet (/openapi.json lists none); this button enables itself when it does.`;
}

// ---------- charts of every network (virtualised: only the cards in view exist) ----------
const cards = new Map<string, Set<NetCard>>();
function addCard(c: NetCard): void {
  let s = cards.get(c.key);
  if (!s) cards.set(c.key, (s = new Set()));
  s.add(c);
}
function dropCard(c: NetCard): void {
  cards.get(c.key)?.delete(c);
  if (cards.get(c.key)?.size === 0) cards.delete(c.key);
  c.destroy();
}
const CARD_H = 218;
const chartCards = new Map<string, NetCard>();
let chartWidth = 0;
const chartList = new VList<string>($('ch-scroll'), $('ch-spacer'), $('ch-rows'), CARD_H, (k) => {
  let c = chartCards.get(k);
  if (!c) {
    c = new NetCard(k, { width: chartWidth, height: 118 });
    chartCards.set(k, c);
    addCard(c);
    c.update(series.nets.get(k));
  }
  return c.el;
}, 1, (shown) => {
  const keep = new Set(shown);
  for (const [k, c] of chartCards) if (!keep.has(k)) {
    chartCards.delete(k);
    dropCard(c);
  }
});
function renderCharts(): void {
  const w = Math.max(200, Math.floor((($('ch-scroll').clientWidth || 1200) - 40) / 4) - 12);
  if (w !== chartWidth) {
    chartWidth = w;
    for (const c of chartCards.values()) dropCard(c);
    chartCards.clear();
    dirty.charts = true;
  }
  if (!dirty.charts) return;
  dirty.charts = false;
  const f = ($('ch-filter') as HTMLInputElement).value.trim().toLowerCase();
  const live = ($('ch-live') as HTMLInputElement).checked;
  const items = sortedNets().filter((k) => (!live || series.nets.has(k)) && (!f || k.toLowerCase().includes(f)));
  // Busiest first by the chosen figure, as of now (re-sorted when a control changes, not under the reader's eyes).
  const by = ($('ch-sort') as HTMLSelectElement).value as 'name' | 'bits' | 'drops' | 'p99';
  if (by !== 'name') {
    const v = (k: string): number => {
      const a = series.nets.get(k)?.[by] ?? [];
      for (let i = a.length - 1; i >= 0; i--) if (a[i] !== null && a[i] !== undefined) return a[i] ?? -1;
      return -1;
    };
    const key = new Map(items.map((k) => [k, v(k)]));
    items.sort((a, b) => (key.get(b) ?? -1) - (key.get(a) ?? -1));
  }
  $('ch-count').textContent = `${items.length} of ${S.nets.size} networks${live ? ' with agent reports' : ''}`;
  chartList.set(items);
}

// ---------- timeline: events and migrations ----------
type Item = { e: SwEvent; at: number } | { m: Migration; at: number };
const PHASE_SHORT: Record<string, string> = { prepared: 'prep', 'state-copied': 'copy', 'both-running': 'both', switched: 'switch', drained: 'drain', done: 'done', failed: 'failed' };
/** Each phase with the time it took from the previous one (ms). */
function phaseDurations(m: Migration): string {
  const out: string[] = [];
  let prev = 0;
  for (const t of m.timeline) {
    if (t.phase === 'pending') continue;
    out.push(`${PHASE_SHORT[t.phase] ?? t.phase} ${Math.max(0, t.sinceStartMs - prev).toFixed(0)}`);
    prev = t.sinceStartMs;
  }
  return out.join(' · ');
}
function migTotal(m: Migration): number {
  return m.timeline.at(-1)?.sinceStartMs ?? 0;
}
const evList = new VList<Item>($('ev-scroll'), $('ev-spacer'), $('ev-rows'), 28, (it) => {
  if ('m' in it) {
    const m = it.m;
    const end = m.phase === 'done' || m.phase === 'failed';
    const title = [`${m.reason}${m.detail ? `: ${m.detail}` : ''}`, ...m.timeline.map((t) => `${t.phase} +${t.sinceStartMs.toFixed(0)} ms by ${t.by}${t.detail ? ` (${t.detail})` : ''}`), ...(m.error ? [`error: ${m.error}`] : [])].join('\n');
    return h('div', { class: `row ev migration phase-${m.phase}${m.phase === 'failed' ? ' Warning' : ''}`, title, 'data-migration': m.id, 'data-phase': m.phase },
      h('span', { class: 'when' }, new Date(m.createdAt).toLocaleTimeString()),
      h('span', { class: `reason why-${m.reason}` }, `⇄ ${m.reason}${m.standby ? ' (standby)' : ''}`),
      h('span', { class: 'obj' }, `${m.namespace}/${m.network}/${m.function}`),
      h('span', { class: 'grow' }, `${m.from} → ${m.to} · ${m.phase}${end ? ` after ${migTotal(m).toFixed(0)} ms` : ''} · ${phaseDurations(m)}${m.detail ? ` · ${m.detail}` : ''}${m.error ? ` · ${m.error}` : ''}`));
  }
  const e = it.e;
  const o = e.involvedObject;
  const migration = /resched|migrat|evict|drain|failover/i.test(e.reason);
  return h('div', { class: `row ev ${e.type}${migration ? ' migration-ev' : ''}`, title: e.message },
    h('span', { class: 'when' }, new Date(e.lastTimestamp).toLocaleTimeString()),
    h('span', { class: 'reason' }, `${migration ? '⇄ ' : ''}${e.reason}`),
    h('span', { class: 'obj' }, `${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`),
    h('span', { class: 'grow' }, `${e.message}${e.count > 1 ? ` (×${e.count})` : ''}`));
});
function renderEvents(): void {
  dirty.events = false;
  const f = ($('ev-filter') as HTMLInputElement).value.trim().toLowerCase();
  const warn = ($('ev-warn') as HTMLInputElement).checked;
  const onlyMig = ($('ev-mig') as HTMLInputElement).checked;
  const items: Item[] = [];
  if (!onlyMig) {
    for (const e of S.events.values()) {
      if (warn && e.type !== 'Warning') continue;
      if (f && !`${e.reason} ${e.involvedObject.kind} ${e.involvedObject.namespace ?? ''}/${e.involvedObject.name} ${e.message}`.toLowerCase().includes(f)) continue;
      items.push({ e, at: Date.parse(e.lastTimestamp) || 0 });
    }
  }
  let nm = 0;
  for (const m of S.migrations.values()) {
    if (warn && m.phase !== 'failed') continue;
    if (f && !`migration ${m.reason} ${m.namespace}/${m.network}/${m.function} ${m.from} ${m.to} ${m.phase} ${m.detail ?? ''} ${m.error ?? ''}`.toLowerCase().includes(f)) continue;
    items.push({ m, at: m.createdAt });
    nm++;
  }
  items.sort((a, b) => b.at - a.at);
  $('ev-count').textContent = `${items.length - nm} events, ${nm} migrations`;
  evList.set(items);
}

// ---------- operations and their outcomes ----------
interface Op {
  n: number;
  title: string;
  at: number;
  state: 'running' | 'ok' | 'error';
  message: string;
  /** Migrations this operation caused (by id from the response, else by what they move and when). */
  track: (m: Migration) => boolean;
  migrations: Set<string>;
  /** A live line (functions left on a drained server, the user network's placement). */
  live?: () => string;
}
const ops: Op[] = [];
let opSeq = 0;
function migrationBlock(m: Migration): HTMLElement {
  const chips = m.timeline.map((t) => h('span', { class: `chip phase-${t.phase}`, title: `${new Date(t.at).toLocaleTimeString()} by ${t.by}${t.detail ? `: ${t.detail}` : ''}` }, `${t.phase} +${t.sinceStartMs.toFixed(0)} ms`));
  return h('div', { class: `mig phase-${m.phase}`, 'data-migration': m.id, 'data-phase': m.phase },
    h('div', {}, h('b', {}, `${m.namespace}/${m.network}/${m.function}`), ` ${m.from} → ${m.to} · ${m.reason}${m.detail ? ` (${m.detail})` : ''}${m.standby ? ' · standby promoted' : ''}`),
    h('div', { class: 'chips' }, ...chips),
    ...(m.error ? [h('div', { class: 'err' }, m.error)] : []));
}
function renderOps(): void {
  dirty.ops = false;
  const box = $('ops');
  box.hidden = ops.length === 0;
  if (!ops.length) return;
  const list = ops.slice(0, 12).map((op) => {
    const migs = [...op.migrations].map((k) => S.migrations.get(k)).filter((m): m is Migration => m !== undefined).sort((a, b) => a.createdAt - b.createdAt);
    const done = migs.filter((m) => m.phase === 'done').length;
    const failed = migs.filter((m) => m.phase === 'failed').length;
    const sum = migs.length ? ` · migrations: ${done} done${failed ? `, ${failed} failed` : ''}, ${migs.length - done - failed} moving` : '';
    return h('div', { class: `op op-${op.state}`, 'data-op': String(op.n) },
      h('div', {}, h('b', {}, op.title), ' ', h('span', { class: op.state === 'error' ? 'err' : op.state === 'ok' ? 'ok' : 'muted', 'data-outcome': op.state }, op.message), h('span', { class: 'muted' }, sum)),
      ...(op.live ? [h('div', { class: 'muted live' }, op.live())] : []),
      // The moving ones first; a long drain shows a dozen and counts the rest.
      ...[...migs.filter((m) => m.phase !== 'done' && m.phase !== 'failed'), ...migs.filter((m) => m.phase === 'done' || m.phase === 'failed')].slice(0, 12).map(migrationBlock),
      ...(migs.length > 12 ? [h('div', { class: 'muted' }, `… and ${migs.length - 12} more (Timeline tab)`)] : []));
  });
  $('ops-list').replaceChildren(...list);
}
/** Migration ids an operation's response names (one object, a list, or `{migrations}`). */
function idsIn(body: unknown): Set<string> {
  const out = new Set<string>();
  const visit = (v: unknown, depth: number): void => {
    if (!v || typeof v !== 'object' || depth > 3) return;
    if (Array.isArray(v)) return v.forEach((x) => visit(x, depth + 1));
    const o = v as Record<string, unknown>;
    if (o['kind'] === 'Migration' && typeof o['id'] === 'string') out.add(o['id']);
    for (const x of Object.values(o)) if (x && typeof x === 'object') visit(x, depth + 1);
  };
  visit(body, 0);
  return out;
}
function summary(body: unknown): string {
  if (!body || typeof body !== 'object') return 'done';
  const o = body as Record<string, unknown>;
  const ids = idsIn(body);
  if (typeof o['message'] === 'string') return o['message'];
  if (ids.size) return `${ids.size} migration${ids.size > 1 ? 's' : ''} started`;
  if (typeof o['action'] === 'string') return `${String(o['namespace'] ?? '')}${o['namespace'] ? '/' : ''}${String(o['name'] ?? '')} ${o['action']}`;
  return 'done';
}
/**
 * Runs one operation route found in /openapi.json (filling its {parameters}) and shows its outcome
 * in the Operations panel: the API's answer or error message, then the migrations it caused as
 * their phases arrive over the watch.
 */
async function runOp(cap: keyof typeof caps, title: string, params: Record<string, string>, body: Record<string, unknown>, o: { track?: (m: Migration) => boolean; live?: () => string; invalid?: string } = {}): Promise<void> {
  const op: Op = { n: ++opSeq, title, at: Date.now(), state: 'running', message: 'sent…', track: () => false, migrations: new Set(), ...(o.live ? { live: o.live } : {}) };
  ops.unshift(op);
  if (ops.length > 30) ops.pop();
  // Clocks of browser and controller may differ a little: a few seconds of slack before the click.
  const since = op.at - 5000;
  const fallback = o.track ?? (() => false);
  let ids = new Set<string>();
  op.track = (m) => ids.has(m.id) || (m.createdAt >= since && fallback(m));
  dirty.ops = true;
  render();
  if (!caps[cap] || o.invalid) {
    op.state = 'error';
    op.message = o.invalid ?? `the API has no ${cap} route`;
  } else {
    const path = caps[cap].replace(/\{(\w+)\}/g, (_m, p: string) => encodeURIComponent(params[p] ?? ''));
    try {
      const res = await api.post<unknown>(path, body);
      ids = idsIn(res);
      op.state = 'ok';
      op.message = summary(res);
    } catch (e) {
      op.state = 'error';
      op.message = e instanceof HttpError ? `${e.status}: ${e.message}` : e instanceof Error ? e.message : String(e);
    }
  }
  for (const [k, m] of S.migrations) if (op.track(m)) op.migrations.add(k);
  dirty.ops = true;
  render();
}
function migrate(ns: string, name: string, fn: string, to: string): Promise<void> {
  if (!fn || !to) return runOp('migrate', `migrate ${ns}/${name}`, {}, {}, { invalid: !fn ? 'choose a placed function' : 'choose a target server' });
  return runOp('migrate', `migrate ${ns}/${name}/${fn} → ${to}`, { namespace: ns, name, function: fn }, { to }, { track: (m) => m.namespace === ns && m.network === name && m.function === fn });
}
function serverOp(kind: 'drain' | 'uncordon' | 'fail', server: string): Promise<void> {
  const left = (): string => {
    let n = 0;
    for (const p of S.placements.values()) if (p.server === server) n++;
    const s = S.servers.get(server);
    const f = s ? serverFacts(s, perServer()) : undefined;
    return `${server}: ${n} function${n === 1 ? '' : 's'} placed${f ? ` · ${f.state}${f.cordoned ? ' · cordoned' : ''}` : ''}`;
  };
  return runOp(kind, `${kind} ${server}`, { name: server, server }, {}, { live: left, ...(kind === 'uncordon' ? {} : { track: (m: Migration) => m.from === server && (kind === 'drain' || m.reason === 'failure') }) });
}
function userOp(kind: 'connect' | 'disconnect', user: string, template: string): Promise<void> {
  if (!user) return runOp(kind, `${kind} user`, {}, {}, { invalid: 'enter a user id' });
  const [ns, tpl] = template.includes('/') ? (template.split('/') as [string, string]) : ['default', template];
  const net = (): string => {
    const name = `user-${user.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'x'}`.slice(0, 63).replace(/-+$/, '');
    const k = netKey(ns, name);
    const n = S.nets.get(k);
    if (!n) return `${k}: no such network`;
    const fns = (n.spec?.['functions'] as unknown[] | undefined)?.length ?? 0;
    const placed = [...(S.byNet.get(k)?.values() ?? [])].filter((p) => !p.function.includes('~')).length;
    return `${k}: ${placed}/${fns} functions placed`;
  };
  const body = kind === 'connect' ? { template: tpl, ...(ns !== 'default' ? { namespace: ns } : {}) } : ns !== 'default' ? { namespace: ns } : {};
  return runOp(kind, `${kind} user ${user}${kind === 'connect' ? ` (${ns}/${tpl})` : ''}`, { id: user, user, name: user }, body, { live: net });
}

// ---------- forms of the Apply tab ----------
let formSig = '';
function renderForms(): void {
  dirty.servers = dirty.forms = false;
  const servers = [...S.servers.keys()].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const templates = [...S.templates.keys()].sort();
  const sig = JSON.stringify([servers, templates, caps]);
  if (sig === formSig) return;
  formSig = sig;
  const keep = (id: string): string => ($(id) as HTMLInputElement | null)?.value ?? '';
  const opts = (xs: string[], cur: string): HTMLOptionElement[] => xs.map((s) => {
    const o = h('option', { value: s }, s);
    if (s === cur) o.selected = true;
    return o;
  });
  // Server operations.
  const srv = h('select', { id: 'op-server', 'aria-label': 'server' }, ...opts(servers, keep('op-server')));
  const drain = h('button', { id: 'op-drain' }, 'drain server');
  const unc = h('button', { id: 'op-uncordon' }, 'uncordon');
  const fail = h('button', { id: 'op-fail', class: 'danger' }, 'fail server');
  disableUnless(drain, 'drain', 'drain a server');
  disableUnless(unc, 'uncordon', 'uncordon a server');
  disableUnless(fail, 'fail', 'fail a server');
  drain.onclick = () => void serverOp('drain', srv.value);
  unc.onclick = () => void serverOp('uncordon', srv.value);
  fail.onclick = () => {
    if (armed(fail)) void serverOp('fail', srv.value);
  };
  $('server-controls').replaceChildren(srv, drain, unc, fail);
  // Migrate a function: network (typed, with suggestions), its function, a target server.
  const netIn = h('input', { id: 'mig-net', type: 'search', list: 'mig-nets', placeholder: 'network (namespace/name)', 'aria-label': 'network', value: keep('mig-net') });
  // Suggestions are filled when the field is used, not on every network change (user networks come and go).
  const dl = h('datalist', { id: 'mig-nets' });
  netIn.onfocus = () => dl.replaceChildren(...sortedNets().slice(0, 2000).map((k) => h('option', { value: k })));
  const fnSel = h('select', { id: 'mig-fn', 'aria-label': 'function' });
  const toSel = h('select', { id: 'mig-to', 'aria-label': 'target server' }, ...opts(servers, keep('mig-to')));
  const fillFns = (): void => {
    const pl = S.byNet.get(netIn.value);
    fnSel.replaceChildren(...[...(pl?.values() ?? [])].sort((a, b) => a.function.localeCompare(b.function)).map((p) => h('option', { value: p.function }, `${p.function} (on ${p.server})`)));
  };
  netIn.oninput = fillFns;
  fillFns();
  const go = h('button', { id: 'mig-go' }, 'migrate');
  disableUnless(go, 'migrate', 'migrate a function');
  go.onclick = () => {
    const [ns, name] = netIn.value.includes('/') ? (netIn.value.split('/') as [string, string]) : ['default', netIn.value];
    void migrate(ns, name, fnSel.value, toSel.value);
  };
  $('mig-controls').replaceChildren(netIn, dl, fnSel, h('span', { class: 'muted' }, '→'), toSel, go);
  // Users: connect with a template, disconnect.
  const user = h('input', { id: 'user-id', type: 'search', placeholder: 'user id', 'aria-label': 'user', value: keep('user-id') });
  const tpl = h('select', { id: 'user-template', 'aria-label': 'template' }, ...opts(templates, keep('user-template')));
  const con = h('button', { id: 'user-connect' }, 'connect user');
  const dis = h('button', { id: 'user-disconnect' }, 'disconnect user');
  disableUnless(con, 'connect', 'connect a user');
  disableUnless(dis, 'disconnect', 'disconnect a user');
  if (!templates.length) {
    con.disabled = true;
    con.title = 'No UserNetworkTemplate in the store: apply one first.';
  }
  con.onclick = () => void userOp('connect', user.value.trim(), tpl.value);
  dis.onclick = () => void userOp('disconnect', user.value.trim(), tpl.value || 'default/');
  $('user-controls').replaceChildren(user, tpl, con, dis);
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
  Object.assign(dirty, v === 'infra' ? { infra: true } : v === 'nets' ? { netList: true, netSel: true } : v === 'charts' ? { charts: true } : v === 'events' ? { events: true } : { servers: true, forms: true });
  if (v === 'apply') formSig = '';
  // Charts of other tabs are not kept: the cards of the tab shown are built from the series.
  if (v !== 'charts') {
    for (const c of chartCards.values()) dropCard(c);
    chartCards.clear();
    $('ch-rows').replaceChildren();
  }
  render();
  if (v === 'nets') cy?.resize();
  if (v === 'infra') drawInfraCharts();
  if (v === 'nets' && selCard && selected) {
    selCard.update(series.nets.get(selected));
    mirrorSelected();
  }
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
  Object.assign(dirty, { servers: true, forms: true, netSel: true, infra: true });
  topoSig = '';
  render();
}

for (const b of document.querySelectorAll<HTMLButtonElement>('#tabs button')) b.onclick = () => show(b.dataset['tab'] as View);
$('net-filter').oninput = () => {
  dirty.netList = true;
  render();
};
$('ch-filter').oninput = $('ch-live').onchange = $('ch-sort').onchange = () => {
  dirty.charts = true;
  render();
};
$('ev-filter').oninput = $('ev-warn').onchange = $('ev-mig').onchange = () => {
  dirty.events = true;
  render();
};
$('infra').onclick = (e) => {
  const b = (e.target as HTMLElement).closest<HTMLButtonElement>('button[data-op]');
  const server = b?.dataset['server'];
  const kind = b?.dataset['op'];
  if (b && server && (kind === 'drain' || kind === 'uncordon' || kind === 'fail') && (kind !== 'fail' || armed(b))) void serverOp(kind, server);
};
$('ops-clear').onclick = () => {
  ops.length = 0;
  dirty.ops = true;
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

