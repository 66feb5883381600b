/**
 * `swnet run TOPOLOGY.yaml --duration 10s [--capture WIRE=FILE.pcap ...]`: runs an experiment
 * without the control plane (servers, software networks, traffic from one YAML file, see
 * src/host/topology.ts) and prints per network throughput, loss and latency p50/p99, and per
 * server its utilisation and energy. A bad topology is reported as file:line:column (exit 2).
 *
 * @example
 * swnet run examples/three-networks.yaml --duration 2s --capture voip-core=voip.pcap
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { loadTopology, parseDuration, TopologyError } from '../host/topology.js';
import { Experiment, ExperimentError, type RunReport } from '../host/experiment.js';

function fmt(x: number, digits = 2): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '-';
}

/** The report as text lines (one table of networks, one of servers). */
export function formatReport(r: RunReport): string[] {
  const lines = [`ran ${fmt(r.seconds, 1)} s`];
  lines.push('network             sent    received  loss %  throughput Mbit/s  p50 ms   p99 ms');
  for (const n of r.networks) lines.push(`${n.network.padEnd(16)} ${String(n.sentPackets).padStart(7)} ${String(n.receivedPackets).padStart(11)} ${fmt(n.lossPercent).padStart(7)} ${fmt(n.throughputMbps, 3).padStart(18)} ${fmt(n.p50Ms, 3).padStart(7)} ${fmt(n.p99Ms, 3).padStart(8)}`);
  lines.push('server      domains  utilisation %  watts   joules');
  for (const s of r.servers) lines.push(`${s.server.padEnd(12)} ${String(s.domains).padStart(6)} ${fmt(s.utilisation * 100).padStart(14)} ${fmt(s.energy?.watts ?? NaN, 1).padStart(6)} ${fmt(s.energy?.joules ?? NaN, 1).padStart(8)}`);
  return lines;
}

export function register(program: Command): void {
  program
    .command('run')
    .description('run software networks from a topology file (no control plane) and report throughput, loss, latency and energy')
    .argument('<topology>', 'YAML topology file')
    .option('--duration <time>', 'how long the traffic runs (e.g. 10s, 500ms)', '10s')
    .option('--capture <wire=file>', 'write a capture of a wire (pcap or pcapng by extension); repeatable', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--json', 'print the report as JSON')
    .action(async (file: string, opts: { duration: string; capture: string[]; json?: boolean }) => {
      const seconds = parseDuration(opts.duration);
      if (!(seconds > 0)) {
        console.error(`swnet run: bad --duration '${opts.duration}' (e.g. 10s, 500ms)`);
        process.exitCode = 2;
        return;
      }
      const captures = new Map<string, string>();
      for (const c of opts.capture) {
        const eq = c.indexOf('=');
        if (eq <= 0 || eq === c.length - 1) {
          console.error(`swnet run: bad --capture '${c}' (expected WIRE=FILE.pcap)`);
          process.exitCode = 2;
          return;
        }
        captures.set(c.slice(0, eq), c.slice(eq + 1));
      }
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        console.error(`swnet run: ${(e as Error).message}`);
        process.exitCode = 2;
        return;
      }
      let x: Experiment;
      try {
        x = await Experiment.build(loadTopology(text, file), { captures });
      } catch (e) {
        if (e instanceof TopologyError || e instanceof ExperimentError) {
          console.error(e.message);
          process.exitCode = 2;
          return;
        }
        throw e;
      }
      try {
        const report = await x.run(seconds);
        if (opts.json) console.log(JSON.stringify(report, null, 2));
        else for (const l of formatReport(report)) console.log(l);
      } finally {
        await x.close();
      }
    });
}
