/** What every benchmark shares: its result rows, latency histograms (hdr-histogram-js) and cleanup. */
import * as hdr from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';

export interface Row {
  bench: string;
  metric: string;
  unit: string;
  /** Undefined when the benchmark could not run. */
  project?: number;
  reference?: number;
  /** project / reference, or undefined when either is missing. */
  ratio?: number;
  /** Human-readable goal, e.g. "ratio ≥ 0.5" or "< 50 ms". */
  goal: string;
  pass: boolean;
  /** Why a row failed or was not measured, and what the figures mean. */
  note?: string;
  /** Every run of a noisy benchmark, in run order; the figures above are the median run's. */
  runs?: RunFigures[];
}

/** One run's figures of a row. */
export interface RunFigures {
  project?: number;
  reference?: number;
  ratio?: number;
}

export interface BenchOptions {
  smoke: boolean;
}

export interface Benchmark {
  name: string;
  /** Its figures move with what else runs on the machine: a full run measures it NOISY_RUNS times and keeps the median. */
  noisy?: boolean;
  run(opts: BenchOptions, cleanup: Cleanup): Promise<Row[]>;
}

/** The `t.teardown` shape test/helpers expect; run() calls every function in reverse order. */
export class Cleanup {
  private readonly fns: Array<() => unknown> = [];
  teardown(fn: () => unknown): void {
    this.fns.push(fn);
  }
  async run(): Promise<void> {
    while (this.fns.length > 0) {
      const fn = this.fns.pop() as () => unknown;
      try {
        await fn();
      } catch {
        /* intentional: keep stopping the rest */
      }
    }
  }
}

/** Latencies in microseconds, 1 µs to 60 s, 3 significant digits. */
export function latencyHistogram(): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
}

export const encodeHistogram = (h: Histogram): string => hdr.encodeIntoCompressedBase64(h);
export const decodeHistogram = (s: string): Histogram => hdr.decodeFromCompressedBase64(s);

export function micros(startNs: bigint): number {
  return Math.max(1, Math.round(Number(process.hrtime.bigint() - startNs) / 1000));
}

export function ratioRow(r: Omit<Row, 'ratio' | 'pass'>, minRatio: number): Row {
  const ratio = r.project !== undefined && r.reference !== undefined && r.reference > 0 ? r.project / r.reference : undefined;
  return { ...r, ratio, pass: ratio !== undefined && ratio >= minRatio };
}

export function failedRows(bench: string, metrics: Array<{ metric: string; unit: string; goal: string }>, why: string): Row[] {
  return metrics.map((m) => ({ bench, ...m, pass: false, note: why }));
}
