/**
 * uPlot charts of the dashboard: a network's card (throughput, loss, latency, tokens) and the
 * plot factory the infrastructure charts share. A card is created only while it is on screen
 * and destroyed when it scrolls away (see the Charts tab's virtual list), so 1,000 networks cost
 * the handful of cards in view.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { NetSeries } from './series.js';

/** 1234567 → "1.2M" (with a unit: "1.2Mbit/s"). */
export function fmt(n: number, unit = ''): string {
  const a = Math.abs(n);
  const [d, s] = a >= 1e9 ? [1e9, 'G'] : a >= 1e6 ? [1e6, 'M'] : a >= 1e3 ? [1e3, 'k'] : [1, ''];
  return `${(n / d).toFixed(d === 1 && a < 10 && a !== Math.round(a) ? 2 : a >= 100 * d || d === 1 ? 0 : 1)}${s}${unit}`;
}

const axisStyle = { stroke: '#8895a3', grid: { stroke: '#26313d' }, ticks: { stroke: '#26313d' } };
const yAxis = { ...axisStyle, size: 52, values: (_u: uPlot, splits: number[]) => splits.map((v) => (Math.abs(v) >= 1000 ? fmt(v) : String(Number(v.toPrecision(6))))) };

export interface SeriesDef {
  label: string;
  stroke: string;
  /** A second y scale (drawn on the right). */
  scale?: string;
}

/**
 * @example
 * const u = mkPlot('power (W)', [{ label: 'W', stroke: '#f5a524' }], el);
 * u.setData([[t0, t1], [120, 130]]);
 */
export function mkPlot(title: string, series: SeriesDef[], el: HTMLElement, o: { width?: number; height?: number } = {}): uPlot {
  const scales = [...new Set(series.map((s) => s.scale).filter((s): s is string => s !== undefined))];
  return new uPlot(
    {
      title,
      width: o.width ?? 460,
      height: o.height ?? 180,
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 1.5, spanGaps: false, ...(s.scale ? { scale: s.scale } : {}) }))],
      axes: [axisStyle, yAxis, ...scales.map((sc) => ({ ...yAxis, scale: sc, side: 1 as const }))],
    },
    [[], ...series.map(() => [])],
    el,
  );
}

const last = (a: (number | null)[]): number | null => {
  for (let i = a.length - 1; i >= 0; i--) if (a[i] !== null && a[i] !== undefined) return a[i] ?? null;
  return null;
};

/**
 * One network's four charts. `el.dataset.points` is the length of the series uPlot holds (the
 * browser tests read it), `el.dataset.maxBits` the highest throughput seen, `bits`, `drops`,
 * `p50`, `p99`, `mean`, `alloc`, `bal` the latest points.
 *
 * @example
 * const c = new NetCard('default/voip', { width: 300, height: 120 });
 * parent.append(c.el);
 * c.update(series.nets.get('default/voip'));
 */
export class NetCard {
  readonly el: HTMLElement;
  private readonly head: HTMLElement;
  private readonly plots: { tp: uPlot; loss: uPlot; lat: uPlot; tok: uPlot };

  constructor(readonly key: string, o: { width: number; height: number; title?: boolean }) {
    this.el = document.createElement('div');
    this.el.className = 'netcard';
    this.el.dataset['net'] = key;
    this.head = document.createElement('div');
    this.head.className = 'netcard-head';
    const box = document.createElement('div');
    box.className = 'netcard-plots';
    if (o.title !== false) this.el.append(this.head);
    this.el.append(box);
    const slot = (name: string): HTMLElement => {
      const d = document.createElement('div');
      d.className = `chart chart-${name}`;
      box.append(d);
      return d;
    };
    const size = { width: o.width, height: o.height };
    this.plots = {
      tp: mkPlot('throughput', [{ label: 'bit/s', stroke: '#4aa3ff' }, { label: 'frames/s', stroke: '#3ecf8e', scale: 'fps' }], slot('tp'), size),
      loss: mkPlot('loss', [{ label: 'drops/s', stroke: '#ff5c5c' }, { label: 'loss %', stroke: '#f5a524', scale: 'pct' }], slot('loss'), size),
      lat: mkPlot('latency (ms)', [{ label: 'p50', stroke: '#3ecf8e' }, { label: 'p99', stroke: '#ff5c5c' }, { label: 'mean', stroke: '#4aa3ff' }], slot('lat'), size),
      tok: mkPlot('tokens', [{ label: 'allocation', stroke: '#c678dd' }, { label: 'balance', stroke: '#f5a524' }], slot('tok'), size),
    };
  }

  update(s: NetSeries | undefined): void {
    const e: (number | null)[] = [];
    const t = s?.t ?? [];
    const pct = s ? s.drops.map((d, i) => (d === null ? null : d + (s.fps[i] ?? 0) > 0 ? (100 * d) / (d + (s.fps[i] ?? 0)) : 0)) : e;
    this.plots.tp.setData([t, s?.bits ?? e, s?.fps ?? e]);
    this.plots.loss.setData([t, s?.drops ?? e, pct]);
    this.plots.lat.setData([t, s?.p50 ?? e, s?.p99 ?? e, s?.mean ?? e]);
    this.plots.tok.setData([t, s?.alloc ?? e, s?.bal ?? e]);
    this.el.dataset['points'] = String(this.plots.tp.data[0].length);
    let max = 0;
    for (const b of s?.bits ?? []) if (b !== null && b > max) max = b;
    this.el.dataset['maxBits'] = String(max);
    if (!s) {
      this.head.textContent = `${this.key} · no report from an agent yet`;
      return;
    }
    const bits = last(s.bits);
    const drops = last(s.drops);
    const p99 = last(s.p99);
    const bal = last(s.bal);
    const alloc = last(s.alloc);
    // The latest figures, for tests and for anyone scripting the page.
    const latest: Record<string, number | null> = { bits, drops, p50: last(s.p50), p99, mean: last(s.mean), alloc, bal };
    for (const [k, v] of Object.entries(latest)) this.el.dataset[k] = v === null ? '' : String(v);
    this.head.textContent = [
      this.key,
      bits !== null ? fmt(bits, 'bit/s') : 'throughput –',
      drops !== null ? `${fmt(drops)} drops/s` : 'drops –',
      p99 !== null ? `p99 ${p99.toFixed(2)} ms` : 'latency –',
      bal !== null ? `tokens ${fmt(bal)}/${alloc !== null ? fmt(alloc) : '–'}` : 'tokens –',
    ].join(' · ');
  }

  destroy(): void {
    for (const p of Object.values(this.plots)) p.destroy();
    this.el.remove();
  }
}
