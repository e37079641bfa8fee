// The earliest time a clock can plausibly show: the start of 2026, and today is after it.
import t from 'tap';
import { EARLIEST_PLAUSIBLE_MS } from '../src/plausible-time.js';

t.test('EARLIEST_PLAUSIBLE_MS', async (t) => {
  t.equal(EARLIEST_PLAUSIBLE_MS, Date.UTC(2026, 0, 1), '2026-01-01T00:00:00Z');
  t.ok(Date.now() > EARLIEST_PLAUSIBLE_MS, 'this machine\'s clock is plausible');
  t.ok(new Date(0).getTime() < EARLIEST_PLAUSIBLE_MS, 'a box that booted at the epoch (no RTC) is not');
});
