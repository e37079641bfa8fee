/**
 * Repeated runs of a noisy benchmark become one row per metric: the median run's figures, with every
 * run kept beside them. The machine's other tenants move a noisy ratio by several times between runs,
 * so a single run says little; the median of three says what is typical and the spread says how noisy.
 */
import type { Row, RunFigures } from './common.js';

/** How many times a noisy benchmark runs in a full `make bench` (a smoke run is one check, not a measurement). */
export const NOISY_RUNS = 3;

/**
 * The figure a row's result depends on: its ratio when its goal is on the ratio (or it only reports),
 * else its own figure (a goal like "< 10 ms" is on the project, however the reference moved).
 */
export function judgedFigure(row: Pick<Row, 'goal' | 'project' | 'ratio'>): number | undefined {
  const figure = judgedOnRatio(row) ? row.ratio : row.project;
  return figure !== undefined && Number.isFinite(figure) ? figure : undefined;
}

/** Whether judgedFigure is the row's ratio (else its project figure). */
export function judgedOnRatio(row: Pick<Row, 'goal' | 'ratio'>): boolean {
  const onProject = row.goal !== '' && row.goal !== 'report' && !row.goal.startsWith('ratio');
  return !onProject && row.ratio !== undefined;
}

/**
 * Runs ordered by their judged figure, a run without one (it failed) at the worse end: first when the goal
 * wants a high figure (≥, >), else last. So a failed run pulls the median towards failing, never away.
 */
function ordered(rows: readonly Row[]): Row[] {
  const failedFirst = rows.some((r) => /[≥>]/.test(r.goal));
  return [...rows].sort((a, b) => {
    const fa = judgedFigure(a);
    const fb = judgedFigure(b);
    if (fa !== undefined && fb !== undefined) return fa - fb;
    if (fa === fb) return 0;
    return (fa === undefined) === failedFirst ? -1 : 1;
  });
}

function figuresOf(row: Row): RunFigures {
  return { project: row.project, reference: row.reference, ratio: row.ratio };
}

/**
 * One row per metric (in the order the metrics first appear): the median run's row (its figures, pass and
 * note, so a row passes when its median run passes) with `runs` holding every run's figures in run order.
 * A metric missing from a run (the run failed before it) counts as a run without a figure. With an even
 * number of runs the lower-middle run of the order is the median.
 */
export function mergeRuns(runs: readonly (readonly Row[])[]): Row[] {
  if (runs.length === 1) return [...(runs[0] ?? [])];
  const key = (r: Row): string => `${r.bench}\n${r.metric}`;
  const metrics = new Map<string, Row>();
  for (const run of runs) for (const r of run) if (!metrics.has(key(r))) metrics.set(key(r), r);
  return [...metrics.entries()].map(([k, first]) => {
    const perRun = runs.map((run) => run.find((r) => key(r) === k) ?? { ...first, project: undefined, reference: undefined, ratio: undefined, pass: false, note: 'this run did not produce the row' });
    const median = ordered(perRun)[Math.floor((perRun.length - 1) / 2)] as Row;
    return { ...median, runs: perRun.map(figuresOf) };
  });
}

/** min, median and max of the judged figure over the runs that have one; undefined with fewer than two runs. */
export function spread(row: Row): { min: number; median: number; max: number } | undefined {
  if (row.runs === undefined || row.runs.length < 2) return undefined;
  const values = row.runs
    .map((f) => judgedFigure({ goal: row.goal, project: f.project, ratio: f.ratio }))
    .filter((v): v is number => v !== undefined)
    .sort((a, b) => a - b);
  const min = values[0];
  const max = values[values.length - 1];
  if (min === undefined || max === undefined) return undefined;
  const median = judgedFigure(row) ?? (values[Math.floor((values.length - 1) / 2)] as number);
  return { min, median, max };
}
