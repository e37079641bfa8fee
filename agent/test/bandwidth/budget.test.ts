// The viewer budget from plain samples, no servers: the floor until capacity and household use are
// known; then the share of the idle upload, the household's upload smoothed between samples; nginx is
// told only of a material change, and not more often than minReloadMs; a counter reset skips a period.
import t from 'tap';
import { ViewerBudget } from '../../src/bandwidth/budget.js';
import { perConnectionRate } from '../../src/bandwidth/policy.js';

const policy = { share: 0.8, floorMbit: 1, maxConnections: 4 };
/** A usage sample `seconds` in, the interface having sent `mbit` Mbit/s since 0 of which nginx served `servedMbit`. */
const at = (seconds: number, mbit: number, servedMbit = 0) => ({
  atMs: seconds * 1000,
  netTxBytes: (mbit * 1e6 * seconds) / 8,
  servedBytes: (servedMbit * 1e6 * seconds) / 8,
});

t.test('the floor until capacity is known; samples without it change nothing', async (t) => {
  const budget = new ViewerBudget({ policy, capacity: undefined, minReloadMs: 0 });
  t.equal(budget.appliedMbit, 1, 'the floor');
  t.equal(budget.observe(at(0, 0)), undefined);
  t.equal(budget.observe(at(10, 5)), undefined, 'no capacity: nothing to share');
  t.equal(budget.idleUpMbit, undefined);
});

t.test('with capacity: the share of the idle upload, smoothed, told to nginx once it moves enough', async (t) => {
  const budget = new ViewerBudget({ policy, capacity: { upMbit: 10, downMbit: 50 }, minReloadMs: 0 });
  t.equal(budget.appliedMbit, 8, 'household taken as idle: 80 % of 10 Mbit/s');
  t.equal(budget.observe(at(0, 0)), undefined, 'the first sample only sets the baseline');

  const busy = budget.observe(at(10, 5));
  t.same(busy, { fromMbit: 8, toMbit: 4, householdMbit: 5, idleUpMbit: 5 }, 'household at 5 Mbit/s: 80 % of the 5 left');
  t.equal(budget.appliedMbit, 4, 'counted as applied');

  // The next period the household sends 6 Mbit/s: smoothed to 5.5, so idle 4.5, budget 3.6 (a tenth less).
  const next = { atMs: 20_000, netTxBytes: at(10, 5).netTxBytes + (6e6 * 10) / 8, servedBytes: 0 };
  t.equal(budget.observe(next), undefined, 'a move of a tenth is not material');
  t.equal(budget.idleUpMbit, 4.5, 'but idle upload follows the smoothed household');
  t.equal(budget.appliedMbit, 4, 'nginx keeps the budget it has');
});

t.test('what nginx itself served is not household use; counter resets skip a period', async (t) => {
  const budget = new ViewerBudget({ policy, capacity: { upMbit: 10, downMbit: 50 }, minReloadMs: 0 });
  budget.observe(at(0, 0));
  t.equal(budget.observe(at(10, 6, 6)), undefined, 'all 6 Mbit/s went to viewers: the household is idle, budget unchanged');
  t.equal(budget.idleUpMbit, 10);
  t.equal(budget.observe({ atMs: 20_000, netTxBytes: 0, servedBytes: at(10, 6, 6).servedBytes }), undefined, 'interface counters went backwards');
});

t.test('while the queueing-delay controller shapes, the own counters are not the household; the ceiling is the share of capacity', async (t) => {
  const budget = new ViewerBudget({ policy, capacity: { upMbit: 10, downMbit: 50 }, minReloadMs: 0 });
  t.equal(budget.ceilingMbit, 8);
  budget.householdFromOwnCounters = false;
  budget.observe(at(0, 0));
  // 5 Mbit/s the box sent besides nginx's bytes (a capacity test): not the household's upload.
  t.equal(budget.observe(at(10, 5)), undefined, 'the budget stays at the ceiling');
  t.equal(budget.idleUpMbit, 10);
  t.equal(budget.appliedMbit, 8);
  t.equal(new ViewerBudget({ policy, capacity: undefined, minReloadMs: 0 }).ceilingMbit, 1, 'the floor until capacity is known');
});

t.test('reloads no more often than minReloadMs', async (t) => {
  const budget = new ViewerBudget({ policy, capacity: { upMbit: 10, downMbit: 50 }, minReloadMs: 60_000 });
  let tx = 0;
  /** The household sent `mbit` Mbit/s over the 10 s before `seconds`. */
  const sample = (seconds: number, mbit: number) => budget.observe({ atMs: seconds * 1000, netTxBytes: (tx += (mbit * 1e6 * 10) / 8), servedBytes: 0 });
  sample(100, 0);
  t.match(sample(110, 9), { fromMbit: 8, toMbit: 1 }, 'household at 9 Mbit/s: down to the floor');
  t.equal(sample(120, 0), undefined, 'household gone (smoothed 4.5, budget 4.4): material, but 10 s after the last reload');
  t.equal(budget.appliedMbit, 1, 'nginx keeps the floor meanwhile');
  t.match(sample(180, 0), { fromMbit: 1 }, '70 s after the last reload the new budget goes to nginx');
  t.ok(budget.appliedMbit > 4);
});

t.test('rates by connections follow the applied budget', async (t) => {
  const budget = new ViewerBudget({ policy, capacity: { upMbit: 10, downMbit: 50 }, minReloadMs: 0 });
  const rates = budget.ratesByConnections();
  t.equal(rates.length, policy.maxConnections + 1);
  t.equal(rates[0], perConnectionRate(8, 4), 'index 0: the budget shared by the most connections');
  t.equal(rates[1], 1_000_000, 'one viewer alone gets the whole 8 Mbit/s');
  t.equal(rates[2], 500_000);
});
