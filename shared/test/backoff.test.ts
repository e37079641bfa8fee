// Reconnect backoff: the ceiling doubles from the first delay up to the cap, full jitter keeps each
// delay between half the ceiling and the ceiling, and reset starts over.
import t from 'tap';
import { Backoff } from '../src/backoff.js';

t.test('the ceiling doubles up to the cap; the lowest draw is half of it, the highest all of it', async (t) => {
  const low = new Backoff(100, 1_000, () => 0);
  t.same(Array.from({ length: 6 }, () => low.next()), [50, 100, 200, 400, 500, 500]);
  const high = new Backoff(100, 1_000, () => 1);
  t.same(Array.from({ length: 6 }, () => high.next()), [100, 200, 400, 800, 1_000, 1_000]);
});

t.test('reset starts from the first delay again', async (t) => {
  const b = new Backoff(100, 1_000, () => 1);
  b.next();
  b.next();
  b.next();
  b.reset();
  t.equal(b.next(), 100);
});

t.test('defaults: 250 ms first, capped at 10 s, always within [ceiling/2, ceiling]', async (t) => {
  const b = new Backoff();
  const delays = Array.from({ length: 40 }, () => b.next());
  t.ok(delays[0]! >= 125 && delays[0]! <= 250, `first delay ${delays[0]} within 125..250`);
  t.ok(delays.every((d) => d <= 10_000), 'never over 10 s');
  t.ok(delays.slice(10).every((d) => d >= 5_000), 'once capped, never under half the cap');
});
