// Under a flood of requests the tail stores at most RECORDS_PER_WINDOW TRAFFIC_FLOW records per record
// lifetime, the first lines' of each window, while the aggregates still count every line; a new window
// stores records again. The budget itself, on a clock the test moves.
import { appendFileSync } from 'node:fs';
import t from 'tap';
import { RECORDS_PER_WINDOW, RecordBudget } from '../../src/traffic/record-budget.js';
import { TrafficBatch } from '../../src/traffic/batch.js';
import { accessLine, newRid, tailSetup } from './fixtures/access-lines.js';

t.test('the budget: an allowance per window, renewed when the window ends', async (t) => {
  let now = 1_000;
  const budget = new RecordBudget(10_000, 5, () => now);
  t.equal(budget.available(), 5);
  budget.spend(3);
  t.equal(budget.available(), 2);
  budget.spend(2);
  now += 9_999;
  t.equal(budget.available(), 0, 'nothing left until the window ends');
  now += 1;
  t.equal(budget.available(), 5, 'a new window');
});

t.test('a batch keeps records up to its allowance and counts every line', async (t) => {
  const batch = new TrafficBatch(2);
  batch.addLines([1, 2, 3, 4].map((i) => accessLine({ uri: `/publisher-a/${i}.ts`, bytes: 10 })).join('').slice(0, -1));
  t.same(batch.records.map((r) => r.record.url), ['/publisher-a/1.ts', '/publisher-a/2.ts'], 'the first lines keep their records');
  t.equal(batch.recordsNotKept, 2);
  t.same(batch.aggregates('1:0-1').map((a) => a.REQUESTS), [1, 1, 1, 1], 'every line in the aggregates');
  t.equal(batch.bytesSent, 40);
});

t.test('a flood stores one window of records; the aggregates count it all', async (t) => {
  const s = await tailSetup(t);
  const tail = s.tail({ recordTtlSeconds: 1 });
  const flood = RECORDS_PER_WINDOW + 500;
  const lines: string[] = [];
  for (let i = 0; i < flood; i++) lines.push(accessLine({ uri: '/publisher-a/live/index.m3u8', bytes: 100 }));
  appendFileSync(s.logPath, lines.join(''));
  t.equal(await tail.pass(), flood, 'every line consumed');
  let state = await s.state();
  t.equal(state.recordKeys.length, RECORDS_PER_WINDOW, 'records stop at the window allowance');
  t.equal(state.requests, flood, 'the aggregates count every line');
  t.equal(state.bytes, 100 * flood);

  // The stored records expire with their window; lines read after it get records again.
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  const rid = newRid();
  appendFileSync(s.logPath, accessLine({ rid, uri: '/publisher-a/live/index.m3u8', bytes: 100 }));
  t.equal(await tail.pass(), 1);
  state = await s.state();
  t.ok(state.recordKeys.includes(s.keys.trafficFlow(rid)), 'the new window stores the line\'s record');
  t.equal(state.requests, flood + 1);
});
