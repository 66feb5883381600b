/**
 * Aho–Corasick multi-pattern matching (Aho & Corasick, CACM 1975) compiled to a full DFA: one
 * dense row of transitions per state in an Int32Array, so the scan loop is one dependent load per
 * byte with no failure-link chasing. Rows are indexed by byte class, not by byte: every byte that
 * occurs in some pattern has its own class and all other bytes share class 0 (they all lead to
 * the same state), so a row holds (distinct pattern bytes + 1) entries instead of 256. With 1,000
 * text signatures that shrinks the table about 8×, which keeps the states a scan actually visits
 * in L2 cache: the DFA walk is latency-bound, so that is what sets the speed. Transitions hold
 * the next state pre-multiplied by the row width, with bit 31 set when the next state ends at
 * least one pattern, so the common no-match case costs a sign test.
 *
 * The scan is resumable: it takes the state to start from and returns the state it ended in, so
 * a stream (a TCP connection) can be scanned segment by segment and still match patterns that
 * straddle segment boundaries.
 */

export class AhoCorasickError extends Error {
  override readonly name = 'AhoCorasickError';
}

const ACCEPT = 0x80000000;
/** Most states a DFA can have (next state × row width must also fit in 31 bits). */
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
  /** Dense transition table: delta[state·width + class] = next·width | ACCEPT-if-matching. */
  readonly delta: Int32Array;
  /** Byte → class (column of a row). */
  readonly classOf: Int32Array = new Int32Array(256);
  /** Row width: number of byte classes. */
  readonly width: number;
  readonly stateCount: number;
  readonly patternCount: number;
  /** Pattern ids ending at state s: outList[outStart[s] .. outStart[s+1]). */
  readonly outStart: Int32Array;
  readonly outList: Int32Array;
  /** Pattern lengths, by id. */
  readonly lengths: Int32Array;
  /** Length of the longest pattern. */
  readonly maxLength: number;
  /** Matches found by the last scan (capped at `matches.length`; `matchTotal` is uncapped). */
  readonly matches: Int32Array;
  /** For each match, the index in the scanned buffer of the pattern's last byte. */
  readonly matchEnds: Int32Array;
  matchCount = 0;
  matchTotal = 0;

  /** True when ASCII letters match regardless of case. */
  readonly caseInsensitive: boolean;

  /**
   * @param caseInsensitive fold ASCII case: patterns are lowercased and 'A'–'Z' share the byte
   *   classes of 'a'–'z', so the scan costs the same.
   */
  constructor(patterns: readonly Uint8Array[], maxMatchesPerScan = 1024, caseInsensitive = false) {
    this.caseInsensitive = caseInsensitive;
    if (caseInsensitive) patterns = patterns.map((p) => p.map((c) => (c >= 0x41 && c <= 0x5a ? c + 0x20 : c)));
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
    this.maxLength = patterns.reduce((m, p) => Math.max(m, p.length), 1);
    const used = new Uint8Array(256);
    for (const p of patterns) for (const c of p) used[c] = 1;
    let w = 0;
    let anyUnused = false;
    for (let c = 0; c < 256; c++) if (!used[c]) anyUnused = true;
    if (anyUnused) w = 1; // class 0: every byte no pattern contains
    for (let c = 0; c < 256; c++) this.classOf[c] = used[c] ? w++ : 0;
    if (caseInsensitive) for (let c = 0x41; c <= 0x5a; c++) this.classOf[c] = this.classOf[c + 0x20] as number;
    this.width = w;
    if (n * w >= 2 ** 31) throw new AhoCorasickError(`automaton too large (${n} states × ${w} classes)`);
    this.patternCount = patterns.length;
    const fail = new Int32Array(n);
    const delta = new Int32Array(n * w);
    const outs: number[][] = own.map((o) => o.slice());
    // Breadth-first: a state's row is its trie children over the row of its failure state,
    // which is complete because the failure state is shallower.
    const queue = new Int32Array(n);
    let qh = 0;
    let qt = 0;
    for (let c = 0; c < 256; c++) {
      const t = (children[0] as Map<number, number>).get(c);
      if (t !== undefined) {
        delta[this.classOf[c] as number] = t;
        fail[t] = 0;
        queue[qt++] = t;
      }
    }
    while (qh < qt) {
      const s = queue[qh++] as number;
      const f = fail[s] as number;
      const kids = children[s] as Map<number, number>;
      for (let c = 0; c < w; c++) delta[s * w + c] = delta[f * w + c] as number;
      for (const [byte, t] of kids) {
        const c = this.classOf[byte] as number;
        delta[s * w + c] = t;
        fail[t] = delta[f * w + c] as number;
        queue[qt++] = t;
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
      delta[i] = ((outs[t] as number[]).length ? ACCEPT | (t * w) : t * w) | 0;
    }
    this.delta = delta;
    this.matches = new Int32Array(maxMatchesPerScan);
    this.matchEnds = new Int32Array(maxMatchesPerScan);
  }

  /**
   * Scans b[from..to) starting in `state` (0 = start of a stream) and returns the end state.
   * Matches are left in `matches`/`matchEnds` (`matchCount` of them, in no particular order).
   *
   * Long ranges are cut into 4 lanes scanned in lockstep, because the DFA walk is bound by the
   * latency of its dependent loads, not by throughput. A lane after the first starts from the
   * start state `maxLength − 1` bytes before its region: every match ending in the region lies
   * wholly in what the lane reads, and an AC state depends only on the last `maxLength` bytes
   * read, so the lanes together report exactly what one pass would (each lane reports only
   * matches ending in its own region), and the last lane ends in the right state.
   */
  scan(b: Uint8Array, from: number, to: number, state: number): number {
    const w = this.width;
    this.matchCount = 0;
    this.matchTotal = 0;
    const warm = this.maxLength - 1;
    const n = to - from;
    if (n < 4 * (warm + 64)) return (this.scanRange(b, from, to, state * w) / w) | 0;
    const d = this.delta;
    const cls = this.classOf;
    const chunk = (n / 4) | 0;
    const st1 = from + chunk;
    const st2 = st1 + chunk;
    const st3 = st2 + chunk;
    let s0 = state * w;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let p1 = st1 - warm;
    let p2 = st2 - warm;
    let p3 = st3 - warm;
    const end0 = st1 + warm;
    for (let p0 = from; p0 < end0; p0++) {
      const e0 = d[s0 + (cls[b[p0] as number] as number)] as number;
      const e1 = d[s1 + (cls[b[p1] as number] as number)] as number;
      const e2 = d[s2 + (cls[b[p2] as number] as number)] as number;
      const e3 = d[s3 + (cls[b[p3] as number] as number)] as number;
      s0 = e0 & 0x7fffffff;
      s1 = e1 & 0x7fffffff;
      s2 = e2 & 0x7fffffff;
      s3 = e3 & 0x7fffffff;
      if ((e0 | e1 | e2 | e3) < 0) {
        if (e0 < 0 && p0 < st1) this.emitAt(s0, p0);
        if (e1 < 0 && p1 >= st1) this.emitAt(s1, p1);
        if (e2 < 0 && p2 >= st2) this.emitAt(s2, p2);
        if (e3 < 0 && p3 >= st3) this.emitAt(s3, p3);
      }
      p1++;
      p2++;
      p3++;
    }
    return (this.scanRange(b, p3, to, s3) / w) | 0;
  }

  // One lane from pre-multiplied state s; appends matches; returns the pre-multiplied end state.
  private scanRange(b: Uint8Array, from: number, to: number, s: number): number {
    const d = this.delta;
    const cls = this.classOf;
    for (let i = from; i < to; i++) {
      const e = d[s + (cls[b[i] as number] as number)] as number;
      s = e & 0x7fffffff;
      if (e < 0) this.emitAt(s, i);
    }
    return s;
  }

  private emitAt(s: number, i: number): void {
    const st = (s / this.width) | 0;
    const a = this.outStart[st] as number;
    const z = this.outStart[st + 1] as number;
    for (let k = a; k < z; k++) {
      if (this.matchCount < this.matches.length) {
        this.matches[this.matchCount] = this.outList[k] as number;
        this.matchEnds[this.matchCount] = i;
        this.matchCount++;
      }
      this.matchTotal++;
    }
  }

  /** True when `state` is a valid state of this automaton (for importing saved stream state). */
  isState(state: number): boolean {
    return Number.isInteger(state) && state >= 0 && state < this.stateCount;
  }
}
