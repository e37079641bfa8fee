/**
 * binary: the size of each standalone agent binary (`make binaries`, dist/) against the stripped stock
 * Node it is built from (build/binaries/base/, kept by scripts/binaries/build.mjs), and the start-up time
 * of the arm64 one under qemu-user (`--version`: SEA bootstrap and the whole bundled CLI loaded) against
 * `node -e 0` of its base Node under the same qemu.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './agent-process.js';
import type { Benchmark, Row } from './common.js';
import { ratioRow } from './common.js';

const MAX_SIZE_RATIO = 1.1;
const MAX_START_RATIO = 1.5;
const QEMU = ['qemu-aarch64-static', '-L', '/usr/aarch64-linux-gnu'];

interface Target {
  name: string;
  package: string;
  version: string;
}

export function targets(): Target[] {
  const pins = JSON.parse(readFileSync(path.join(ROOT, 'binaries', 'base-nodes.json'), 'utf8')) as { targets: Record<string, { package: string; version: string }> };
  return Object.entries(pins.targets).map(([name, t]) => ({ name, package: t.package, version: t.version }));
}

export const binaryOf = (t: Target): string => path.join(ROOT, 'dist', `dandelion-agent-${t.name}`);
export const baseOf = (t: Target): string => path.join(ROOT, 'build', 'binaries', 'base', `${t.name}-${t.version}`, 'node');
const MiB = (file: string): number => statSync(file).size / (1024 * 1024);

/** Wall time of one emulated run in ms; throws unless it exits 0. */
function timed(args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(QEMU[0] as string, [...QEMU.slice(1), ...args], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.error || r.status !== 0) throw new Error(`${QEMU.join(' ')} ${args.join(' ')}: ${r.error?.message ?? `exit ${r.status} ${r.stderr.toString().slice(0, 300)}`}`);
  return ms;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] as number;

export const binary: Benchmark = {
  name: 'binary',
  async run({ smoke }, _cleanup): Promise<Row[]> {
    const rows: Row[] = [];
    const missing = (files: string[]): string | undefined => {
      const gone = files.filter((f) => !existsSync(f)).map((f) => path.relative(ROOT, f));
      return gone.length > 0 ? `${gone.join(', ')} missing: run 'make binaries'` : undefined;
    };
    const all = targets();
    for (const t of all) {
      const why = missing([binaryOf(t), baseOf(t)]);
      if (why) {
        rows.push({ bench: 'binary', metric: `${t.name} size`, unit: 'MiB', goal: `ratio ≤ ${MAX_SIZE_RATIO}`, pass: false, note: why });
        continue;
      }
      const project = MiB(binaryOf(t));
      const reference = MiB(baseOf(t));
      rows.push({ bench: 'binary', metric: `${t.name} size`, unit: 'MiB', project, reference, ratio: project / reference, goal: `ratio ≤ ${MAX_SIZE_RATIO}`, pass: project / reference <= MAX_SIZE_RATIO, note: `reference: stripped ${t.package} ${t.version}` });
    }

    const arm64 = all.find((t) => t.name === 'linux-arm64');
    const startRow = { bench: 'binary', metric: 'linux-arm64 start-up under qemu', unit: 'ms', goal: `ratio ≤ ${MAX_START_RATIO}` };
    const why = arm64 ? missing([binaryOf(arm64), baseOf(arm64), '/usr/aarch64-linux-gnu/lib']) : 'no linux-arm64 target in binaries/base-nodes.json';
    if (why || !arm64) {
      rows.push({ ...startRow, pass: false, note: why });
      return rows;
    }
    // Alternated, so a burst of load on a shared machine hits both; one untimed run each first (page cache).
    const runs = smoke ? 1 : 7;
    const project: number[] = [];
    const reference: number[] = [];
    if (!smoke) {
      timed([binaryOf(arm64), '--version']);
      timed([baseOf(arm64), '-e', '0']);
    }
    for (let i = 0; i < runs; i++) {
      project.push(timed([binaryOf(arm64), '--version']));
      reference.push(timed([baseOf(arm64), '-e', '0']));
    }
    const row = ratioRow({ ...startRow, project: median(project), reference: median(reference), note: `median of ${runs} alternated runs: binary \`--version\` vs its base Node \`-e 0\`, both ${QEMU.join(' ')}` }, 0);
    row.pass = row.ratio !== undefined && row.ratio <= MAX_START_RATIO;
    rows.push(row);
    return rows;
  },
};
