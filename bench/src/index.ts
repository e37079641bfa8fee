/**
 * `dandelion bench [NAME…] [--smoke]`: each benchmark starts its own servers on loopback, measures the
 * project and a reference the same way in the same run, stops what it started, and becomes table rows.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../shared/src/cli.js';
import type { Benchmark, Row } from './common.js';
import { Cleanup, failedRows } from './common.js';
import { heartbeat } from './heartbeat.js';
import { ingest } from './ingest.js';
import { logTail } from './log-tail.js';
import { agentMemory } from './memory.js';
import { serving } from './serving.js';
import { replication } from './replication.js';
import { binary } from './binary.js';
import { registryScale } from './registry.js';
import { viewerStartup } from './viewer-startup.js';
import { judgedOnRatio, mergeRuns, NOISY_RUNS, spread } from './runs.js';
import { entranceMemory } from './entrance-memory.js';

export type { Row } from './common.js';

/** In the order the issue ranks them. */
export const BENCHMARKS: Benchmark[] = [heartbeat, logTail, ingest, registryScale, replication, serving, agentMemory, binary, viewerStartup, entranceMemory];

/** Benchmarks issue #8 asks for that do not exist yet: rows that count as failed. */
const NOT_BUILT: Array<{ bench: string; metric: string; unit: string; goal: string }> = [
];

export interface RunOptions {
  /** Benchmark names; all of them when empty or absent. */
  names?: string[];
  smoke: boolean;
  /** Runs of each noisy benchmark; default NOISY_RUNS, 1 with smoke. Other benchmarks run once. */
  runs?: number;
  /** Called as each benchmark run starts (the CLI prints progress on stderr). */
  progress?: (name: string, run: number, of: number) => void;
  /** The benchmarks to choose from (tests pass their own); default BENCHMARKS. */
  benchmarks?: readonly Benchmark[];
}

/** One run of one benchmark; a benchmark that throws becomes a failed row saying why. */
async function runOnce(bench: Benchmark, smoke: boolean): Promise<Row[]> {
  const cleanup = new Cleanup();
  try {
    return await bench.run({ smoke }, cleanup);
  } catch (err) {
    return failedRows(bench.name, [{ metric: '(did not run)', unit: '', goal: '' }], `could not run: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    await cleanup.run();
  }
}

export async function runBenchmarks(opts: RunOptions): Promise<Row[]> {
  const all = opts.benchmarks ?? BENCHMARKS;
  const names = opts.names ?? [];
  const unknown = names.filter((n) => !all.some((b) => b.name === n) && !NOT_BUILT.some((m) => m.bench === n));
  if (unknown.length > 0) throw new Error(`unknown benchmark ${unknown.join(', ')} (known: ${[...all.map((b) => b.name), ...NOT_BUILT.map((m) => m.bench)].join(', ')})`);
  const chosen = (n: string): boolean => names.length === 0 || names.includes(n);
  const noisyRuns = opts.runs ?? (opts.smoke ? 1 : NOISY_RUNS);
  const rows: Row[] = [];
  for (const bench of all.filter((b) => chosen(b.name))) {
    const count = bench.noisy === true ? noisyRuns : 1;
    const runs: Row[][] = [];
    for (let run = 1; run <= count; run++) {
      opts.progress?.(bench.name, run, count);
      runs.push(await runOnce(bench, opts.smoke));
    }
    rows.push(...mergeRuns(runs));
  }
  for (const m of NOT_BUILT.filter((x) => chosen(x.bench))) rows.push({ ...m, pass: false, note: 'not built yet' });
  return rows;
}

function figure(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '—';
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US');
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

/** The min–median–max cell: of the figure the row is judged on, over its runs ('—' for a single run). */
function spreadCell(r: Row): string {
  const s = spread(r);
  if (s === undefined) return '—';
  const f = (n: number): string => (judgedOnRatio(r) ? n.toFixed(2) : figure(n));
  return `${f(s.min)}–${f(s.median)}–${f(s.max)}`;
}

export function renderTable(rows: Row[]): string {
  const head = ['metric', 'project', 'reference', 'ratio', 'min–median–max', 'goal', 'result'];
  const body = rows.map((r) => [
    `${r.bench}: ${r.metric}${r.unit ? ` (${r.unit})` : ''}`,
    figure(r.project), figure(r.reference), r.ratio === undefined ? '—' : r.ratio.toFixed(2), spreadCell(r), r.goal || '—', r.pass ? 'pass' : 'FAIL',
  ]);
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...body.map((c) => `| ${c.join(' | ')} |`)];
  const notes = rows.filter((r) => r.note).map((r) => `- ${r.bench} — ${r.metric}: ${r.note}`);
  return `${lines.join('\n')}\n\n${notes.join('\n')}\n`;
}

const HELP = `Usage: dandelion bench [NAME…] [--smoke] [--runs N]

Runs benchmarks on loopback (each starts and stops its own Redis, entrance, agent, nginx), measures
a reference the same way in the same run, prints a table and writes bench/results/<date>.json and .md.
Names: ${BENCHMARKS.map((b) => b.name).join(', ')} (default: all).
The noisy ones (${BENCHMARKS.filter((b) => b.noisy === true).map((b) => b.name).join(', ')}) run ${NOISY_RUNS} times; each row shows the
median run and min–median–max, and the JSON keeps every run.
  --smoke   small sizes and short durations, each benchmark once (a check that every benchmark runs, not a measurement)
  --runs N  run the noisy benchmarks N times (1–20)
Exit code 0 when every row passes, 1 otherwise.
`;

/** `--runs N` / `--runs=N`; undefined when absent. Throws UsageError for anything but an integer 1–20. */
export function parseRuns(args: readonly string[]): { runs?: number; rest: string[] } {
  const rest: string[] = [];
  let runs: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a !== '--runs' && !a.startsWith('--runs=')) {
      rest.push(a);
      continue;
    }
    const value = a === '--runs' ? args[++i] : a.slice('--runs='.length);
    if (value === undefined || !/^[0-9]+$/.test(value) || Number(value) < 1 || Number(value) > 20) throw new UsageError(`bench: --runs takes a whole number from 1 to 20 (got ${value ?? 'nothing'})`);
    runs = Number(value);
  }
  return { runs, rest };
}

export async function main(args: string[]): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(HELP);
    return;
  }
  const { runs, rest } = parseRuns(args);
  const smoke = rest.includes('--smoke');
  const bad = rest.filter((a) => a.startsWith('-') && a !== '--smoke');
  if (bad.length > 0) throw new UsageError(`bench: unknown option ${bad.join(' ')}`);
  const names = rest.filter((a) => !a.startsWith('-'));
  const known = [...BENCHMARKS.map((b) => b.name), ...NOT_BUILT.map((m) => m.bench)];
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length > 0) throw new UsageError(`bench: unknown benchmark ${unknown.join(', ')} (known: ${known.join(', ')})`);
  const started = new Date();
  const rows = await runBenchmarks({ names, smoke, runs, progress: (n, run, of) => process.stderr.write(`bench: ${n}${of > 1 ? ` (run ${run} of ${of})` : ''}…\n`) });
  const table = renderTable(rows);
  process.stdout.write(table);

  // bench/results beside the sources: build/bench/src/index.js → bench/results.
  const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bench/results');
  mkdirSync(dir, { recursive: true });
  const stamp = started.toISOString().slice(0, 19).replace(/:/g, '-');
  const base = path.join(dir, `${stamp}${smoke ? '-smoke' : ''}`);
  const machine = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? '', memoryGB: Math.round(os.totalmem() / 1e9), node: process.version, platform: `${os.platform()} ${os.release()}` };
  writeFileSync(`${base}.json`, `${JSON.stringify({ started: started.toISOString(), smoke, noisyRuns: runs ?? (smoke ? 1 : NOISY_RUNS), machine, rows }, null, 2)}\n`);
  writeFileSync(`${base}.md`, `# Benchmarks ${started.toISOString()}${smoke ? ' (smoke)' : ''}\n\n${machine.cpus} × ${machine.cpu}, ${machine.memoryGB} GB, Node ${machine.node}\n\n${table}`);
  process.stderr.write(`bench: wrote ${base}.json and .md\n`);
  if (!rows.every((r) => r.pass)) process.exitCode = 1;
}
