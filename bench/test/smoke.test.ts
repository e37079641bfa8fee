// Every built benchmark runs once at smoke size and yields real figures for project and reference.
// Speed is never asserted here: only that the measurement happened.
import t from 'tap';
import { BENCHMARKS, runBenchmarks } from '../src/index.js';

t.test('every benchmark runs at smoke size', async (t) => {
  const names = BENCHMARKS.map((b) => b.name);
  const rows = await runBenchmarks({ names, smoke: true });
  for (const name of names) {
    const mine = rows.filter((r) => r.bench === name);
    t.ok(mine.length > 0, `${name} produced rows`);
    for (const r of mine) {
      t.ok(r.project !== undefined && Number.isFinite(r.project) && r.project > 0, `${name} ${r.metric}: project figure ${r.project} (${r.note ?? ''})`);
      t.ok(r.reference !== undefined && Number.isFinite(r.reference) && r.reference > 0, `${name} ${r.metric}: reference figure ${r.reference}`);
    }
  }
});
