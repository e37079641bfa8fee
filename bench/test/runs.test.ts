// Noisy benchmarks run three times in a full run; each row becomes the median run with every run kept.
// The benchmarks here are stand-ins that return set figures: what is tested is the harness's arithmetic.
import t from 'tap';
import { UsageError } from '../../shared/src/cli.js';
import { parseRuns, renderTable, runBenchmarks } from '../src/index.js';
import type { Benchmark, Row } from '../src/common.js';
import { mergeRuns, spread } from '../src/runs.js';

const ratioRow = (ratio: number, pass: boolean): Row => ({ bench: 'b', metric: 'rate', unit: '/s', project: ratio * 100, reference: 100, ratio, goal: 'ratio ≥ 0.5', pass });
const msRow = (project: number, reference: number): Row => ({ bench: 'b', metric: 'p99', unit: 'ms', project, reference, ratio: project / reference, goal: '< 10 ms', pass: project < 10 });

t.test('a ratio row becomes its median run by ratio, and passes when that run passes', async (t) => {
  const [row] = mergeRuns([[ratioRow(0.2, false)], [ratioRow(0.9, true)], [ratioRow(0.6, true)]]);
  t.equal(row?.ratio, 0.6);
  t.equal(row?.project, 60);
  t.equal(row?.pass, true);
  t.same(row?.runs?.map((r) => r.ratio), [0.2, 0.9, 0.6], 'every run kept, in run order');
  t.same(row && spread(row), { min: 0.2, median: 0.6, max: 0.9 });
});

t.test('a row whose goal is on its own figure is ordered by that figure, not by the ratio', async (t) => {
  // Ratios 12/1 = 12, 8/2 = 4, 14/7 = 2: by ratio the median would be the 8 ms run; by figure it is 12 ms.
  const [row] = mergeRuns([[msRow(12, 1)], [msRow(8, 2)], [msRow(14, 7)]]);
  t.equal(row?.project, 12);
  t.equal(row?.pass, false);
  t.same(row && spread(row), { min: 8, median: 12, max: 14 });
});

t.test('a run that failed before a row counts as a run without a figure', async (t) => {
  const failed: Row = { bench: 'b', metric: '(did not run)', unit: '', goal: '', pass: false, note: 'could not run' };
  const rows = mergeRuns([[ratioRow(0.7, true)], [failed], [ratioRow(0.3, false)]]);
  const rate = rows.find((r) => r.metric === 'rate');
  t.equal(rate?.ratio, 0.3, 'for a goal of ratio ≥ 0.5 a failed run is the lowest: the median of nothing, 0.3 and 0.7 is 0.3');
  t.equal(rate?.pass, false);
  t.equal(rate?.runs?.length, 3);
  t.equal(rate?.runs?.[1]?.ratio, undefined);
  t.ok(rows.some((r) => r.metric === '(did not run)' && !r.pass), 'the failed run still shows');

  const mostlyFailed = mergeRuns([[ratioRow(0.9, true)], [failed], [failed]]).find((r) => r.metric === 'rate');
  t.equal(mostlyFailed?.pass, false, 'two runs out of three without a figure: the median has none and fails');
  const lowGoal = mergeRuns([[msRow(4, 1)], [failed], [msRow(6, 1)]]).find((r) => r.metric === 'p99');
  t.equal(lowGoal?.project, 6, 'for a goal of < 10 ms a failed run is the highest: the median of 4, 6 and nothing is 6');
});

t.test('noisy benchmarks run three times in a full run, once at smoke size or as --runs says; the rest once', async (t) => {
  const calls = { noisy: 0, steady: 0 };
  const figures = [0.4, 0.8, 0.6];
  const noisy: Benchmark = { name: 'noisy', noisy: true, run: async () => [ratioRow(figures[calls.noisy++ % 3] as number, true)] };
  const steady: Benchmark = { name: 'steady', run: async () => (calls.steady++, [{ ...ratioRow(1, true), bench: 'steady' }]) };
  const full = await runBenchmarks({ smoke: false, benchmarks: [noisy, steady] });
  t.same(calls, { noisy: 3, steady: 1 });
  t.equal(full.find((r) => r.metric === 'rate' && r.bench === 'b')?.ratio, 0.6);
  t.equal(full.find((r) => r.bench === 'steady')?.runs, undefined, 'a steady benchmark has one run and no spread');

  await runBenchmarks({ smoke: true, benchmarks: [noisy, steady] });
  t.same(calls, { noisy: 4, steady: 2 }, 'smoke: once each');
  await runBenchmarks({ smoke: true, runs: 5, benchmarks: [noisy, steady] });
  t.same(calls, { noisy: 9, steady: 3 }, '--runs 5: the noisy one five times');
});

t.test('the table has a min–median–max column: of the ratio for ratio goals, of the figure for unit goals', async (t) => {
  const rows = mergeRuns([[ratioRow(0.2, false), msRow(12, 1)], [ratioRow(0.9, true), msRow(8, 2)], [ratioRow(0.6, true), msRow(14, 7)]]);
  const table = renderTable(rows);
  t.match(table, /\| metric \| project \| reference \| ratio \| min–median–max \| goal \| result \|/);
  t.match(table, /\| b: rate \(\/s\) \| 60\.0 \| 100\.0 \| 0\.60 \| 0\.20–0\.60–0\.90 \| ratio ≥ 0\.5 \| pass \|/);
  t.match(table, /\| b: p99 \(ms\) \| 12\.0 \| 1\.00 \| 12\.00 \| 8\.00–12\.0–14\.0 \| < 10 ms \| FAIL \|/);
  t.match(renderTable([ratioRow(0.5, true)]), /\| 0\.50 \| — \| ratio ≥ 0\.5 \|/, 'a single run has no spread');
});

t.test('--runs takes a whole number from 1 to 20', async (t) => {
  t.same(parseRuns(['heartbeat', '--runs', '5']), { runs: 5, rest: ['heartbeat'] });
  t.same(parseRuns(['--runs=2', '--smoke']), { runs: 2, rest: ['--smoke'] });
  t.same(parseRuns(['--smoke']), { runs: undefined, rest: ['--smoke'] });
  for (const bad of [['--runs'], ['--runs', '0'], ['--runs=21'], ['--runs', 'three'], ['--runs=1.5']]) t.throws(() => parseRuns(bad), UsageError, bad.join(' '));
});
