/**
 * Pure scoring arithmetic shared by the live scheduler (control/scheduler) and anything that
 * wants the same numbers offline (the simulator): the power increase of adding CPU load to a
 * server under its SPECpower model, allocation scores in the manner of kube-scheduler's
 * NodeResourcesFit (LeastAllocated / MostAllocated), and shortest-latency distances over a
 * weighted graph (Dijkstra).
 */
import { powerAt, type PowerModel } from './power.js';

/**
 * Watts a server draws more after `addCores` more cores of load, `usedCores` of `capacityCores`
 * being busy now. A server with no load at all counts as off: placing on it costs its whole draw
 * at the new load, idle power included (that is what "prefer servers already on" means).
 * @example powerIncrease(HP_ML110_G5, 8, 0, 4) // 110 (off → 50 %)
 */
export function powerIncrease(model: PowerModel, capacityCores: number, usedCores: number, addCores: number): number {
  if (!(capacityCores > 0)) return Infinity;
  const after = powerAt(model, (usedCores + addCores) / capacityCores);
  return usedCores > 0 ? after - powerAt(model, usedCores / capacityCores) : after;
}

/**
 * Allocation score in 0..100 over CPU, memory and bandwidth fractions after placing a request
 * (resources with zero capacity are ignored). 'least' favours emptier servers (spreading),
 * 'most' fuller ones (bin packing), as kube-scheduler's LeastAllocated / MostAllocated.
 * `used` and `capacity` are read from `offset` on (per-server rows of a flat array).
 * @example allocationScore('least', [2, 4], [8, 16], [0, 0]) // 75
 */
export function allocationScore(mode: 'least' | 'most', used: ArrayLike<number>, capacity: ArrayLike<number>, request: ArrayLike<number>, offset = 0): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < request.length; i++) {
    const cap = capacity[offset + i] ?? 0;
    if (!(cap > 0)) continue;
    const f = Math.min(1, ((used[offset + i] ?? 0) + (request[i] ?? 0)) / cap);
    sum += mode === 'least' ? 1 - f : f;
    n++;
  }
  return n === 0 ? 0 : (100 * sum) / n;
}

/** An undirected weighted graph in adjacency-list form: `adj[u]` holds `[v, w, v, w, ...]`. */
export type WeightedGraph = readonly (readonly number[])[];

/**
 * Single-source shortest distances (Dijkstra with a binary heap); Infinity where unreachable.
 * Several sources give the distance to the nearest of them (multi-source).
 * @example shortestDistances([[1, 2], [0, 2, 2, 3], [1, 3]], [0]) // Float64Array [0, 2, 5]
 */
export function shortestDistances(adj: WeightedGraph, sources: readonly number[]): Float64Array {
  const n = adj.length;
  const dist = new Float64Array(n).fill(Infinity);
  const heapN: number[] = [];
  const heapD: number[] = [];
  const push = (v: number, d: number): void => {
    let i = heapN.length;
    heapN.push(v);
    heapD.push(d);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if ((heapD[p] as number) <= d) break;
      heapN[i] = heapN[p] as number;
      heapD[i] = heapD[p] as number;
      i = p;
    }
    heapN[i] = v;
    heapD[i] = d;
  };
  const pop = (): number => {
    const top = heapN[0] as number;
    const lastN = heapN.pop() as number;
    const lastD = heapD.pop() as number;
    const m = heapN.length;
    if (m > 0) {
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && (heapD[c + 1] as number) < (heapD[c] as number)) c++;
        if ((heapD[c] as number) >= lastD) break;
        heapN[i] = heapN[c] as number;
        heapD[i] = heapD[c] as number;
        i = c;
      }
      heapN[i] = lastN;
      heapD[i] = lastD;
    }
    return top;
  };
  for (const s of sources) {
    if (s >= 0 && s < n && dist[s] !== 0) {
      dist[s] = 0;
      push(s, 0);
    }
  }
  const done = new Uint8Array(n);
  while (heapN.length > 0) {
    const u = pop();
    if (done[u]) continue;
    done[u] = 1;
    const du = dist[u] as number;
    const e = adj[u] ?? [];
    for (let k = 0; k + 1 < e.length; k += 2) {
      const v = e[k] as number;
      const d = du + (e[k + 1] as number);
      if (d < (dist[v] as number)) {
        dist[v] = d;
        push(v, d);
      }
    }
  }
  return dist;
}
