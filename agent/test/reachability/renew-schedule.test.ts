// When the mapper looks at the router again, on a clock given as numbers: every check period, sooner
// when a lease is half over, never for a permanent mapping's renewal, and after failures (the first retry
// still after one period) less often up to MAX_RETRY_MS.
import t from 'tap';
import { MAX_RETRY_MS, nextWakeInMs, renewalDueMs } from '../../src/reachability/renew-schedule.js';

t.test('renewal at half the lease; a permanent mapping is never renewed', async (t) => {
  t.equal(renewalDueMs(1_000, 3600), 1_000 + 1_800_000);
  t.equal(renewalDueMs(1_000, 0), undefined);
});

t.test('the next look: the check period, or the renewal when it comes first', async (t) => {
  t.equal(nextWakeInMs({ nowMs: 0, checkEveryMs: 5_000, renewalDueMs: undefined, failures: 0 }), 5_000);
  t.equal(nextWakeInMs({ nowMs: 0, checkEveryMs: 5_000, renewalDueMs: 1_800_000, failures: 0 }), 5_000);
  t.equal(nextWakeInMs({ nowMs: 1_797_000, checkEveryMs: 5_000, renewalDueMs: 1_800_000, failures: 0 }), 3_000, 'renewal due before the next check');
  t.equal(nextWakeInMs({ nowMs: 1_900_000, checkEveryMs: 5_000, renewalDueMs: 1_800_000, failures: 0 }), 0, 'overdue: now');
});

t.test('after failures: doubling, capped', async (t) => {
  const waits = [0, 1, 2, 3, 10, 30].map((failures) => nextWakeInMs({ nowMs: 0, checkEveryMs: 5_000, renewalDueMs: undefined, failures }));
  t.same(waits, [5_000, 5_000, 10_000, 20_000, MAX_RETRY_MS, MAX_RETRY_MS], 'the first retry after one period');
  t.equal(nextWakeInMs({ nowMs: 0, checkEveryMs: 600_000, renewalDueMs: undefined, failures: 4 }), 600_000, 'a check period longer than the cap is kept');
});
