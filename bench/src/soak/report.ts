/** The soak's figures and the Markdown table `dandelion soak` prints and keeps in bench/results/. */
import os from 'node:os';
import type { SoakOptions } from './main.js';

export interface EntranceSample {
  atMinutes: number;
  /** Each entrance process's VmRSS. */
  rssMiB: number[];
  connected: number;
}

export interface SoakFigures {
  /** As run: boxes lowered to what fits, clients raised to what the open-file limit needs. */
  opts: SoakOptions;
  /** Why fewer boxes ran than were asked for. */
  lowered?: string;
  connected: number;
  failedToConnect: number;
  connectSeconds: number;
  sent: number;
  accepted: number;
  dropped: number;
  refused: number;
  reconnects: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Per entrance: RSS growth since before the first socket, over the boxes it holds. */
  entranceRssKiBPerBox: number[];
  /** Per entrance: least-squares slope of RSS over the second half of the soak's samples (after the warm-up). */
  rssTrendMiBPerMinute: number[];
  redisBytesPerBox: number;
  samples: EntranceSample[];
}

/**
 * Least-squares slope of entrance `i`'s RSS against time (MiB per minute) over the second half of the
 * samples: the first minutes are the heap growing to the fleet (young generation, sockets' buffers), not
 * a leak. NaN with fewer than two samples.
 */
export function rssTrend(samples: readonly EntranceSample[], i: number): number {
  const points = samples.slice(Math.floor(samples.length / 2)).map((s) => [s.atMinutes, s.rssMiB[i] ?? Number.NaN] as const).filter(([, y]) => Number.isFinite(y));
  if (points.length < 2) return Number.NaN;
  const mx = points.reduce((a, [x]) => a + x, 0) / points.length;
  const my = points.reduce((a, [, y]) => a + y, 0) / points.length;
  const sxx = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  const sxy = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0);
  return sxx === 0 ? Number.NaN : sxy / sxx;
}

const n0 = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—');
const n1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '—');
const n2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '—');

export function formatSoakReport(f: SoakFigures, at: Date): string {
  const o = f.opts;
  const rate = o.boxes / o.periodSeconds;
  const rows: Array<[string, string, string]> = [
    ['boxes connected', `${n0(f.connected)} of ${n0(o.boxes)} in ${n0(f.connectSeconds)} s`, `all`],
    ['heartbeats sent / accepted', `${n0(f.sent)} / ${n0(f.accepted)} (${n0(rate)} EXCHANGE/s offered)`, ''],
    ['dropped heartbeats', n0(f.dropped), '0'],
    ['refused replies / reconnects', `${n0(f.refused)} / ${n0(f.reconnects)}`, '0 / 0'],
    ['EXCHANGE p50 / p99 / max (ms)', `${n1(f.p50Ms)} / ${n1(f.p99Ms)} / ${n1(f.maxMs)}`, ''],
    ['entrance RSS per box (KiB), each entrance', f.entranceRssKiBPerBox.map(n1).join(' / '), ''],
    ['entrance RSS trend over the second half (MiB/min), each entrance', f.rssTrendMiBPerMinute.map(n2).join(' / '), '≈ 0'],
    ['Redis memory per box (bytes)', n0(f.redisBytesPerBox), ''],
  ];
  const lines = [
    `# Soak, ${at.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `${n0(o.boxes)} simulated boxes (signed upgrades, one EXCHANGE every ${o.periodSeconds} s each) across ${o.entrances} entrance processes sharing one fleet on ${o.redis === 'cluster' ? 'a six-node Redis Cluster (three masters, a replica each; Redis memory is the masters\' sum)' : 'one Redis'}, ` +
      `${o.minutes} min after all connected; ${o.clients} client processes; ${os.availableParallelism()} CPUs, ${n0(os.totalmem() / 2 ** 30)} GiB.`,
    ...(f.lowered ? ['', `Boxes ${f.lowered.replace(/^lowered/, 'were lowered')}.`] : []),
    '',
    '| figure | measured | goal |',
    '| --- | --- | --- |',
    ...rows.map(([a, b, c]) => `| ${a} | ${b} | ${c} |`),
    '',
    '| minute | connected | entrance RSS (MiB) |',
    '| --- | --- | --- |',
    ...f.samples.map((s) => `| ${s.atMinutes.toFixed(1)} | ${n0(s.connected)} | ${s.rssMiB.map(n0).join(' / ')} |`),
    '',
  ];
  return lines.join('\n');
}
