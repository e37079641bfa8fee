// Every built benchmark runs once at smoke size and yields real figures for project and reference.
// Speed is never asserted here: only that the measurement happened. One subtest per benchmark, so
// tap's per-subtest time says which benchmark the smoke run spends its time on.
import t from 'tap';
import { BENCHMARKS, runBenchmarks } from '../src/index.js';

for (const bench of BENCHMARKS) {
  t.test(`${bench.name} runs at smoke size`, async (t) => {
    const rows = await runBenchmarks({ names: [bench.name], smoke: true });
    t.ok(rows.length > 0, `${bench.name} produced rows`);
    for (const r of rows) {
      t.ok(r.project !== undefined && Number.isFinite(r.project) && r.project > 0, `${bench.name} ${r.metric}: project figure ${r.project} (${r.note ?? ''})`);
      t.ok(r.reference !== undefined && Number.isFinite(r.reference) && r.reference > 0, `${bench.name} ${r.metric}: reference figure ${r.reference}`);
      t.equal(r.runs, undefined, `${bench.name} ${r.metric}: one run at smoke size`);
    }
  });
}
