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
import { entranceMemory } from './entrance-memory.js';

export type { Row } from './common.js';

/** In the order the issue ranks them. */
export const BENCHMARKS: Benchmark[] = [heartbeat, logTail, ingest, registryScale, replication, serving, agentMemory, binary, entranceMemory];

/** Benchmarks issue #8 asks for that do not exist yet: rows that count as failed. */
const NOT_BUILT: Array<{ bench: string; metric: string; unit: string; goal: string }> = [
];

export interface RunOptions {
  /** Benchmark names; all of them when empty or absent. */
  names?: string[];
  smoke: boolean;
  /** Called as each benchmark starts (the CLI prints progress on stderr). */
  progress?: (name: string) => void;
}

export async function runBenchmarks(opts: RunOptions): Promise<Row[]> {
  const names = opts.names ?? [];
  const unknown = names.filter((n) => !BENCHMARKS.some((b) => b.name === n) && !NOT_BUILT.some((m) => m.bench === n));
  if (unknown.length > 0) throw new Error(`unknown benchmark ${unknown.join(', ')} (known: ${[...BENCHMARKS.map((b) => b.name), ...NOT_BUILT.map((m) => m.bench)].join(', ')})`);
  const chosen = (n: string): boolean => names.length === 0 || names.includes(n);
  const rows: Row[] = [];
  for (const bench of BENCHMARKS.filter((b) => chosen(b.name))) {
    opts.progress?.(bench.name);
    const cleanup = new Cleanup();
    try {
      rows.push(...(await bench.run({ smoke: opts.smoke }, cleanup)));
    } catch (err) {
      rows.push(...failedRows(bench.name, [{ metric: '(did not run)', unit: '', goal: '' }], `could not run: ${err instanceof Error ? err.message : String(err)}`));
    } finally {
      await cleanup.run();
    }
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

export function renderTable(rows: Row[]): string {
  const head = ['metric', 'project', 'reference', 'ratio', 'goal', 'result'];
  const body = rows.map((r) => [
    `${r.bench}: ${r.metric}${r.unit ? ` (${r.unit})` : ''}`,
    figure(r.project), figure(r.reference), r.ratio === undefined ? '—' : r.ratio.toFixed(2), r.goal || '—', r.pass ? 'pass' : 'FAIL',
  ]);
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...body.map((c) => `| ${c.join(' | ')} |`)];
  const notes = rows.filter((r) => r.note).map((r) => `- ${r.bench} — ${r.metric}: ${r.note}`);
  return `${lines.join('\n')}\n\n${notes.join('\n')}\n`;
}

const HELP = `Usage: dandelion bench [NAME…] [--smoke]

Runs benchmarks on loopback (each starts and stops its own Redis, entrance, agent, nginx), measures
a reference the same way in the same run, prints a table and writes bench/results/<date>.json and .md.
Names: ${BENCHMARKS.map((b) => b.name).join(', ')} (default: all).
  --smoke   small sizes and short durations (a check that every benchmark runs, not a measurement)
Exit code 0 when every row passes, 1 otherwise.
`;

export async function main(args: string[]): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(HELP);
    return;
  }
  const smoke = args.includes('--smoke');
  const bad = args.filter((a) => a.startsWith('-') && a !== '--smoke');
  if (bad.length > 0) throw new UsageError(`bench: unknown option ${bad.join(' ')}`);
  const names = args.filter((a) => !a.startsWith('-'));
  const known = [...BENCHMARKS.map((b) => b.name), ...NOT_BUILT.map((m) => m.bench)];
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length > 0) throw new UsageError(`bench: unknown benchmark ${unknown.join(', ')} (known: ${known.join(', ')})`);
  const started = new Date();
  const rows = await runBenchmarks({ names, smoke, progress: (n) => process.stderr.write(`bench: ${n}…\n`) });
  const table = renderTable(rows);
  process.stdout.write(table);

  // bench/results beside the sources: build/bench/src/index.js → bench/results.
  const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bench/results');
  mkdirSync(dir, { recursive: true });
  const stamp = started.toISOString().slice(0, 19).replace(/:/g, '-');
  const base = path.join(dir, `${stamp}${smoke ? '-smoke' : ''}`);
  const machine = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? '', memoryGB: Math.round(os.totalmem() / 1e9), node: process.version, platform: `${os.platform()} ${os.release()}` };
  writeFileSync(`${base}.json`, `${JSON.stringify({ started: started.toISOString(), smoke, machine, rows }, null, 2)}\n`);
  writeFileSync(`${base}.md`, `# Benchmarks ${started.toISOString()}${smoke ? ' (smoke)' : ''}\n\n${machine.cpus} × ${machine.cpu}, ${machine.memoryGB} GB, Node ${machine.node}\n\n${table}`);
  process.stderr.write(`bench: wrote ${base}.json and .md\n`);
  if (!rows.every((r) => r.pass)) process.exitCode = 1;
}
