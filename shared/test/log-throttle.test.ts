// LogThrottle: the first failure is logged at once, then at most one an interval, each saying how many
// were held back since the line before.
import t from 'tap';
import { LogThrottle } from '../src/log-throttle.js';

t.test('the first is logged, the rest of the interval held back and counted in the next line', async (t) => {
  let now = 1_000;
  const throttle = new LogThrottle(10_000, () => now);
  t.equal(throttle.take(), 0, 'the first: logged, nothing held back');
  now += 1;
  t.equal(throttle.take(), undefined, 'held back');
  now += 5_000;
  t.equal(throttle.take(), undefined, 'held back');
  now += 5_000;
  t.equal(throttle.take(), 2, 'an interval after the last line: logged, saying 2 were held back');
  now += 20_000;
  t.equal(throttle.take(), 0, 'nothing held back since');
});
