/**
 * Aho–Corasick multi-pattern matching (Aho & Corasick, CACM 1975) compiled to a full DFA over
 * bytes: one dense row of 256 transitions per state in an Int32Array, so the scan loop is one
 * load per byte with no failure-link chasing. Transitions hold the next state pre-multiplied by
 * 256 (so the next index is `next | byte`), with bit 31 set when the next state ends at least
 * one pattern, so the common no-match case costs a sign test.
 *
 * The scan is resumable: it takes the state to start from and returns the state it ended in, so
 * a stream (a TCP connection) can be scanned segment by segment and still match patterns that
 * straddle segment boundaries.
 */

export class AhoCorasickError extends Error {
  override readonly name = 'AhoCorasickError';
}

const ACCEPT = 0x80000000;
/** Most states a DFA can have (next state × 256 must fit in 31 bits). */
export const AC_MAX_STATES = 1 << 23;

/**
 * A compiled pattern set. Pattern ids are positions in the array given to the constructor.
 *
 * @example
 * const ac = new AhoCorasick([new TextEncoder().encode('evil'), new TextEncoder().encode('vile')]);
 * let s = ac.scan(seg1, 0, seg1.length, 0);   // start state 0
 * s = ac.scan(seg2, 0, seg2.length, s);       // resumes across the boundary
 * for (let i = 0; i < ac.matchCount; i++) console.log(ac.matches[i], ac.matchEnds[i]);
 */
export class AhoCorasick {
  /** Dense transition table: delta[state·256 + byte] = next·256 | ACCEPT-if-matching. */
  readonly delta: Int32Array;
  readonly stateCount: number;
  readonly patternCount: number;
  /** Pattern ids ending at state s: outList[outStart[s] .. outStart[s+1]). */
  readonly outStart: Int32Array;
  readonly outList: Int32Array;
  /** Pattern lengths, by id. */
  readonly lengths: Int32Array;
  /** Matches found by the last scan (capped at `matches.length`; `matchTotal` is uncapped). */
  readonly matches: Int32Array;
  /** For each match, the index in the scanned buffer of the pattern's last byte. */
  readonly matchEnds: Int32Array;
  matchCount = 0;
  matchTotal = 0;

  constructor(patterns: readonly Uint8Array[], maxMatchesPerScan = 1024) {
    // Trie with sparse children (build time only).
    const children: Map<number, number>[] = [new Map()];
    const own: number[][] = [[]];
    this.lengths = new Int32Array(patterns.length);
    patterns.forEach((p, id) => {
      if (p.length === 0) throw new AhoCorasickError(`pattern ${id} is empty`);
      this.lengths[id] = p.length;
      let s = 0;
      for (const c of p) {
        const kids = children[s] as Map<number, number>;
        let t = kids.get(c);
        if (t === undefined) {
          t = children.length;
          if (t >= AC_MAX_STATES) throw new AhoCorasickError(`more than ${AC_MAX_STATES} states`);
          children.push(new Map());
          own.push([]);
          kids.set(c, t);
        }
        s = t;
      }
      (own[s] as number[]).push(id);
    });
    const n = children.length;
    this.stateCount = n;
    this.patternCount = patterns.length;
    const fail = new Int32Array(n);
    const delta = new Int32Array(n * 256);
    const outs: number[][] = own.map((o) => o.slice());
    // Breadth-first: a state's row is its trie children over the row of its failure state,
    // which is complete because the failure state is shallower.
    const queue = new Int32Array(n);
    let qh = 0;
    let qt = 0;
    for (let c = 0; c < 256; c++) {
      const t = (children[0] as Map<number, number>).get(c);
      if (t !== undefined) {
        delta[c] = t;
        fail[t] = 0;
        queue[qt++] = t;
      }
    }
    while (qh < qt) {
      const s = queue[qh++] as number;
      const f = fail[s] as number;
      const kids = children[s] as Map<number, number>;
      for (let c = 0; c < 256; c++) {
        const t = kids.get(c);
        if (t !== undefined) {
          delta[s * 256 + c] = t;
          fail[t] = delta[f * 256 + c] as number;
          queue[qt++] = t;
        } else {
          delta[s * 256 + c] = delta[f * 256 + c] as number;
        }
      }
      // Patterns that end at the failure state also end here (it is a suffix).
      const fo = outs[f] as number[];
      if (fo.length) (outs[s] as number[]).push(...fo);
    }
    this.outStart = new Int32Array(n + 1);
    let total = 0;
    for (let s = 0; s < n; s++) {
      this.outStart[s] = total;
      total += (outs[s] as number[]).length;
    }
    this.outStart[n] = total;
    this.outList = new Int32Array(total);
    for (let s = 0; s < n; s++) this.outList.set(outs[s] as number[], this.outStart[s] as number);
    // Pre-multiply and flag accepting targets.
    for (let i = 0; i < delta.length; i++) {
      const t = delta[i] as number;
      delta[i] = ((outs[t] as number[]).length ? ACCEPT | (t << 8) : t << 8) | 0;
    }
    this.delta = delta;
    this.matches = new Int32Array(maxMatchesPerScan);
    this.matchEnds = new Int32Array(maxMatchesPerScan);
  }

  /**
   * Scans b[from..to) starting in `state` (0 = start of a stream) and returns the end state.
   * Matches are left in `matches`/`matchEnds` (`matchCount` of them).
   */
  scan(b: Uint8Array, from: number, to: number, state: number): number {
    const d = this.delta;
    let s = (state << 8) | 0;
    let mc = 0;
    let total = 0;
    for (let i = from; i < to; i++) {
      const e = d[s | (b[i] as number)] as number;
      s = e & 0x7fffffff;
      if (e < 0) {
        const st = s >>> 8;
        const a = this.outStart[st] as number;
        const z = this.outStart[st + 1] as number;
        for (let k = a; k < z; k++) {
          if (mc < this.matches.length) {
            this.matches[mc] = this.outList[k] as number;
            this.matchEnds[mc] = i;
            mc++;
          }
          total++;
        }
      }
    }
    this.matchCount = mc;
    this.matchTotal = total;
    return s >>> 8;
  }

  /** True when `state` is a valid state of this automaton (for importing saved stream state). */
  isState(state: number): boolean {
    return Number.isInteger(state) && state >= 0 && state < this.stateCount;
  }
}
