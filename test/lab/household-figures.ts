/**
 * The household lab's arithmetic, pure: rates from the viewers' 100 ms bins, round-trip percentiles,
 * the yield and reclaim times, and the table of the five figures (figure, before, after, goal).
 */

export const BIN_MS = 100;
/**
 * The viewers' rate at an instant is the mean of the 100 ms bins in a 500 ms window around it: one bin
 * alone swings with nginx's limit_rate bursts and TCP's sawtooth, and a crossing must not be one bin's luck.
 */
const SMOOTHING_BINS = 5;

/** Mbit/s received in [fromMs, toMs) from bins keyed by their start (absent bins count as nothing received). */
export function rateMbit(bins: ReadonlyMap<number, number>, fromMs: number, toMs: number): number {
  let bytes = 0;
  for (const [bin, b] of bins) if (bin >= fromMs && bin < toMs) bytes += b;
  return (bytes * 8) / ((toMs - fromMs) / 1000) / 1e6;
}

/**
 * A crossing must last this long: a dip of the viewers' rate that recovers at once (a burst of losses when
 * the household's upload starts) is not the box yielding, nor a peak its taking the bandwidth back.
 */
export const HOLD_MS = 1_000;

/** The smoothed rate around the bin starting at `bin`. */
function smoothedMbit(bins: ReadonlyMap<number, number>, bin: number): number {
  const half = Math.floor(SMOOTHING_BINS / 2) * BIN_MS;
  return rateMbit(bins, bin - half, bin + half + BIN_MS);
}

/**
 * Milliseconds from `fromMs` to the first instant (a bin's middle, before `toMs`) from which the smoothed
 * rate satisfies `test` for HOLD_MS; undefined when it never does.
 */
export function timeUntil(bins: ReadonlyMap<number, number>, fromMs: number, toMs: number, test: (mbit: number) => boolean): number | undefined {
  const first = Math.floor(fromMs / BIN_MS) * BIN_MS;
  for (let bin = first; bin < toMs; bin += BIN_MS) {
    let holds = true;
    for (let later = bin; holds && later < bin + HOLD_MS; later += BIN_MS) holds = test(smoothedMbit(bins, later));
    if (holds) return Math.max(0, bin + BIN_MS / 2 - fromMs);
  }
  return undefined;
}

/** The p-th percentile (0–100) by nearest rank; NaN for no values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

/** The interactive flow over one window: its round-trip p95 (answered requests) and the share lost. */
export interface RttFigure {
  p95Ms: number;
  medianMs: number;
  lostShare: number;
  sent: number;
}

export function rttFigure(w: { rttsMs: number[]; sent: number; lost: number }): RttFigure {
  return { p95Ms: percentile(w.rttsMs, 95), medianMs: percentile(w.rttsMs, 50), lostShare: w.sent === 0 ? NaN : w.lost / w.sent, sent: w.sent };
}

/** What one agent run (one HOUSEHOLD_YIELD mode) measured, with the box serving. */
export interface ServingRun {
  /** The box's measured upload capacity (Mbit/s), from its capacity test. */
  capacityUpMbit: number;
  /** Viewers started → their rate settled (the box's budget applied), ms. */
  settleMs: number;
  /** Viewers' rate with the household idle (its interactive flow only). */
  steadyMbit: number;
  /** The interactive flow alone while the box serves. */
  interactiveOnly: RttFigure;
  /** The household's bulk upload (iperf3 receiver) while the box serves. */
  householdMbit: number;
  /** The interactive flow during that bulk upload. */
  bulkAndInteractive: RttFigure;
  /** Bulk starts → the viewers' rate below 25 % of steadyMbit (ms); undefined: it never went that low. */
  yieldMs: number | undefined;
  /** Bulk stops → the viewers' rate back to ≥ 80 % of steadyMbit (ms); undefined: not within the watch. */
  reclaimMs: number | undefined;
  /** How long after the bulk ended the reclaim was watched (ms), for "never within". */
  reclaimWatchMs: number;
  /** How long the yield was watched: the bulk upload's duration (ms). */
  yieldWatchMs: number;
  /** The run's time series, for plotting and tuning (not a figure). */
  trace: Trace;
}

/** From the steady window's start: the viewers' rate per 100 ms bin, and each interactive request. */
export interface Trace {
  fromMs: number;
  /** The household's bulk upload, ms after fromMs. */
  bulkStartMs: number;
  bulkEndMs: number;
  viewerMbitPerBin: number[];
  /** [ms after fromMs, round trip in ms or null when lost] per request. */
  rtts: Array<[number, number | null]>;
}

/** Mbit/s of each 100 ms bin in [fromMs, toMs). */
export function binSeries(bins: ReadonlyMap<number, number>, fromMs: number, toMs: number): number[] {
  const series: number[] = [];
  for (let bin = Math.floor(fromMs / BIN_MS) * BIN_MS; bin < toMs; bin += BIN_MS) series.push(Math.round(rateMbit(bins, bin, bin + BIN_MS) * 100) / 100);
  return series;
}

/** The box idle (no viewers): the household's own figures. */
export interface IdleBaseline {
  householdMbit: number;
  bulkAndInteractive: RttFigure;
  interactiveOnly: RttFigure;
}

export interface FigureRow {
  figure: string;
  before: string;
  after: string;
  goal: string;
  /** Whether each column meets the goal. */
  beforeMet: boolean;
  afterMet: boolean;
}

export interface Inputs {
  shapedUpMbit: number;
  viewerShare: number;
  idle: IdleBaseline;
  before: ServingRun;
  after: ServingRun;
}

export const YIELD_THRESHOLD = 0.25;
export const RECLAIM_THRESHOLD = 0.8;

const fixed = (n: number, digits: number): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const seconds = (ms: number | undefined, watchedMs: number): string => (ms === undefined ? `never in ${fixed(watchedMs / 1000, 0)} s` : `${fixed(ms / 1000, 1)} s`);

/** The five figures (the second split in its two cases), each as before/after against its goal. */
export function figureRows(i: Inputs): FigureRow[] {
  const row = (figure: string, goal: string, value: (r: ServingRun) => { text: string; met: boolean }): FigureRow => {
    const b = value(i.before);
    const a = value(i.after);
    return { figure, before: b.text, after: a.text, goal, beforeMet: b.met, afterMet: a.met };
  };
  const rise = (serving: RttFigure, idle: RttFigure): { text: string; met: boolean } => {
    const ms = serving.p95Ms - idle.p95Ms;
    return { text: `${fixed(ms, 1)} ms (p95 ${fixed(serving.p95Ms, 1)} vs ${fixed(idle.p95Ms, 1)}, lost ${fixed(serving.lostShare * 100, 0)} %)`, met: ms <= 25 };
  };
  return [
    row('1. household upload, box serving / box idle', '≥ 0.90', (r) => {
      const ratio = r.householdMbit / i.idle.householdMbit;
      return { text: `${fixed(ratio, 2)} (${fixed(r.householdMbit, 1)} / ${fixed(i.idle.householdMbit, 1)} Mbit/s)`, met: ratio >= 0.9 };
    }),
    row('2a. interactive RTT p95 rise, household bulk + interactive', '≤ 25 ms', (r) => rise(r.bulkAndInteractive, i.idle.bulkAndInteractive)),
    row('2b. interactive RTT p95 rise, household interactive only', '≤ 25 ms', (r) => rise(r.interactiveOnly, i.idle.interactiveOnly)),
    row(`3. box upload, household idle / (VIEWER_SHARE ${i.viewerShare} × ${i.shapedUpMbit} Mbit/s)`, '≥ 0.80', (r) => {
      const ratio = r.steadyMbit / (i.viewerShare * i.shapedUpMbit);
      return { text: `${fixed(ratio, 2)} (${fixed(r.steadyMbit, 1)} Mbit/s)`, met: ratio >= 0.8 };
    }),
    row(`4a. yield: bulk starts → box < ${YIELD_THRESHOLD * 100} % of its rate for ${HOLD_MS / 1000} s`, '≤ 2 s', (r) => ({ text: seconds(r.yieldMs, r.yieldWatchMs), met: r.yieldMs !== undefined && r.yieldMs <= 2000 })),
    row(`4b. reclaim: bulk stops → box ≥ ${RECLAIM_THRESHOLD * 100} % of its rate for ${HOLD_MS / 1000} s`, '≤ 2 s', (r) => ({
      text: `${seconds(r.reclaimMs, r.reclaimWatchMs)}${r.yieldMs === undefined ? ' (it never yielded)' : ''}`,
      met: r.reclaimMs !== undefined && r.reclaimMs <= 2000,
    })),
    row('5. capacity measured / shaped rate', '0.90–1.10', (r) => {
      const ratio = r.capacityUpMbit / i.shapedUpMbit;
      return { text: `${fixed(ratio, 2)} (${fixed(r.capacityUpMbit, 1)} Mbit/s)`, met: ratio >= 0.9 && ratio <= 1.1 };
    }),
  ];
}

/** The rows as a plain-text table (figure, before, after, goal), a ✗ marking a figure that misses its goal. */
export function renderTable(rows: readonly FigureRow[]): string {
  const cells = rows.map((r) => [r.figure, `${r.before}${r.beforeMet ? '' : ' ✗'}`, `${r.after}${r.afterMet ? '' : ' ✗'}`, r.goal]);
  const header = ['figure', 'before (HOUSEHOLD_YIELD off)', 'after (auto)', 'goal'];
  const widths = header.map((h, c) => Math.max(h.length, ...cells.map((row) => row[c]?.length ?? 0)));
  const line = (row: readonly string[]): string => `| ${row.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}
