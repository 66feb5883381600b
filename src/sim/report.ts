/** A self-contained HTML report with SVG plots of one or more simulation runs. */
import type { IntervalStats, SimResult } from './engine.js';
import { REFERENCE } from './reference.js';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

function num(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-2 || a >= 1e6)) return x.toExponential(2);
  return Number(x.toPrecision(digits + 2)).toString();
}

/**
 * One line chart: x is hours since the start, one polyline per run.
 * @example lineChart('Active servers', 'servers', runs, (s) => s.activeHosts)
 */
export function lineChart(title: string, unit: string, runs: readonly SimResult[], y: (s: IntervalStats) => number): string {
  const W = 760, H = 240, L = 60, R = 12, T = 28, B = 36;
  let maxY = 0, maxX = 0;
  for (const r of runs) for (const s of r.timeline) { maxY = Math.max(maxY, y(s)); maxX = Math.max(maxX, s.time / 3600); }
  if (maxY <= 0) maxY = 1;
  if (maxX <= 0) maxX = 1;
  const nice = niceCeil(maxY);
  const sx = (x: number): number => L + (x / maxX) * (W - L - R);
  const sy = (v: number): number => T + (1 - v / nice) * (H - T - B);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">`);
  parts.push(`<text x="${L}" y="18" font-size="14" font-weight="bold">${esc(title)}</text>`);
  for (let i = 0; i <= 4; i++) {
    const v = (nice * i) / 4;
    const yy = sy(v).toFixed(1);
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${yy}" y2="${yy}" stroke="#ddd"/><text x="${L - 6}" y="${yy}" font-size="11" text-anchor="end" dominant-baseline="middle">${num(v)}</text>`);
  }
  for (let hgt = 0; hgt <= maxX; hgt += maxX > 12 ? 4 : 1) {
    const xx = sx(hgt).toFixed(1);
    parts.push(`<line x1="${xx}" x2="${xx}" y1="${T}" y2="${H - B}" stroke="#eee"/><text x="${xx}" y="${H - B + 14}" font-size="11" text-anchor="middle">${hgt}</text>`);
  }
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 4}" font-size="11" text-anchor="middle">hours</text>`);
  parts.push(`<text x="12" y="${(T + H - B) / 2}" font-size="11" transform="rotate(-90 12 ${(T + H - B) / 2})" text-anchor="middle">${esc(unit)}</text>`);
  runs.forEach((r, i) => {
    const pts = r.timeline.map((s) => `${sx(s.time / 3600).toFixed(1)},${sy(y(s)).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="1.4" points="${pts}"><title>${esc(r.policy)}</title></polyline>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

function niceCeil(x: number): number {
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

/**
 * The report: a metrics table (with CloudSim's figures where the day is known) and four plots.
 * @example writeFileSync('out.html', htmlReport('20110303', [r1, r2]))
 */
export function htmlReport(day: string, runs: readonly SimResult[]): string {
  const ref = REFERENCE[day];
  const legend = runs.map((r, i) => `<span class="key"><span class="sw" style="background:${COLORS[i % COLORS.length]}"></span>${esc(r.policy)}</span>`).join(' ');
  const rows = runs.map((r) => {
    const f = ref?.policies[r.policy];
    const refCell = f ? `${f.energyKWh} / ${f.migrations} / ${(f.slatah * 100).toFixed(2)} / ${f.slav.toExponential(2)} / ${f.esv.toExponential(2)}` : r.policy === 'dvfs' && ref ? `${ref.dvfs}` : '';
    return `<tr><td>${esc(r.policy)}</td><td>${r.energyKWh.toFixed(2)}</td><td>${r.migrations}</td><td>${(r.slatah * 100).toFixed(2)}</td><td>${r.pdm.toExponential(2)}</td><td>${r.slav.toExponential(2)}</td><td>${r.esv.toExponential(2)}</td><td>${refCell}</td><td>${(r.wallMs / 1000).toFixed(2)}</td></tr>`;
  }).join('\n');
  const first = runs[0];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>swnet sim — ${esc(day)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:800px}
table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}.key{margin-right:14px;white-space:nowrap}
.sw{display:inline-block;width:14px;height:4px;margin-right:5px;vertical-align:middle}
figure{margin:16px 0}
</style></head><body>
<h1>Simulation report: ${esc(day)}</h1>
<p>${first ? `${first.hosts} hosts, ${first.vms} VMs, decisions every 300 s.` : ''} Energy in kWh; SLATAH in % of active host time;
PDM, SLAV = SLATAH × PDM and ESV = energy × SLAV as in Beloglazov &amp; Buyya (2012). The last column gives CloudSim 3.0.3's figures where known
(energy / migrations / SLATAH % / SLAV / ESV).</p>
<table><tr><th>policy</th><th>energy kWh</th><th>migrations</th><th>SLATAH %</th><th>PDM</th><th>SLAV</th><th>ESV</th><th>CloudSim 3.0.3</th><th>wall s</th></tr>
${rows}
</table>
<p>${legend}</p>
<figure>${lineChart('Active servers', 'servers', runs, (s) => s.activeHosts)}</figure>
<figure>${lineChart('Power', 'W', runs, (s) => s.powerW)}</figure>
<figure>${lineChart('SLA violations (hosts at 100 % or receiving a migration, averaged over the interval)', 'hosts', runs, (s) => s.violatingHosts)}</figure>
<figure>${lineChart('Migrations per interval', 'migrations', runs, (s) => s.migrations)}</figure>
</body></html>
`;
}
