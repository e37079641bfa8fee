// The viewer rate from queueing delay: full rate on an empty queue, down to the floor within a few
// probes of a household's upload filling the router's queue, back up within a few probes of it
// draining, and a base delay that forgets a path after BASE_HISTORY_MINUTES.
import t from 'tap';
import { BASE_HISTORY_MINUTES, DelayController } from '../../src/bandwidth/uplink/delay-controller.js';
import { ACTIVE_PROBE_MS } from '../../src/bandwidth/uplink/household-yield.js';

const MAX = 16;
const FLOOR = 1;
const BASE_RTT = 20;

/** Feeds `rtts` one probe apart from `start`; returns the rate after each. */
function feed(c: DelayController, rtts: number[], start = 0, maxMbit = MAX): number[] {
  return rtts.map((rtt, i) => c.observe(rtt, start + i * ACTIVE_PROBE_MS, maxMbit));
}

t.test('an empty queue keeps viewers at the ceiling', async (t) => {
  const c = new DelayController({ targetMs: 10, floorMbit: FLOOR });
  const rates = feed(c, Array(20).fill(BASE_RTT));
  t.equal(rates.at(-1), MAX);
  t.equal(c.queueingMs, 0);
});

t.test('a household upload filling the queue sends viewers to the floor within three probes', async (t) => {
  const c = new DelayController({ targetMs: 10, floorMbit: FLOOR });
  feed(c, Array(10).fill(BASE_RTT));
  // A deep FIFO filling: 60, 150, 300, 500 ms of queue.
  const rates = feed(c, [80, 170, 320, 520, 600, 600], 10 * ACTIVE_PROBE_MS);
  const atFloor = rates.findIndex((r) => r === FLOOR);
  t.ok(atFloor >= 0 && atFloor <= 2, `floor reached at probe ${atFloor}: ${rates.join(', ')}`);
  t.ok(c.queueingMs >= 500);
});

t.test('one late pong alone does not slow viewers down', async (t) => {
  const c = new DelayController({ targetMs: 10, floorMbit: FLOOR });
  feed(c, Array(10).fill(BASE_RTT));
  const rates = feed(c, [300, BASE_RTT, BASE_RTT], 10 * ACTIVE_PROBE_MS);
  t.same(rates, [MAX, MAX, MAX]);
});

t.test('viewers take the upload back within four probes of the queue draining', async (t) => {
  const c = new DelayController({ targetMs: 10, floorMbit: FLOOR });
  feed(c, [...Array(10).fill(BASE_RTT), ...Array(10).fill(600)]);
  t.equal(c.rateMbit(MAX), FLOOR);
  const rates = feed(c, Array(8).fill(BASE_RTT + 1), 20 * ACTIVE_PROBE_MS);
  const full = rates.findIndex((r) => r === MAX);
  t.ok(full >= 0 && full <= 3, `ceiling reached at probe ${full}: ${rates.join(', ')}`);
});

t.test('a queue near the target holds the rate between floor and ceiling', async (t) => {
  const c = new DelayController({ targetMs: 10, floorMbit: FLOOR });
  feed(c, Array(5).fill(BASE_RTT));
  // The box's own traffic keeps about the target's worth of queue: the rate stops moving.
  const rates = feed(c, Array(10).fill(BASE_RTT + 10), 5 * ACTIVE_PROBE_MS);
  t.equal(rates.at(-1), rates.at(-2));
  const above = feed(c, Array(3).fill(BASE_RTT + 15), 15 * ACTIVE_PROBE_MS);
  t.ok(above.at(-1)! < rates.at(-1)!, 'over the target: slower');
});

t.test('the ceiling moves the rate at once (a cap set or a new capacity), and a ceiling under the floor wins', async (t) => {
  const c = new DelayController({ targetMs: 10, floorMbit: FLOOR });
  feed(c, Array(5).fill(BASE_RTT));
  t.equal(c.observe(BASE_RTT, 5 * ACTIVE_PROBE_MS, 4), 4);
  t.equal(c.observe(BASE_RTT, 6 * ACTIVE_PROBE_MS, 0.5), 0.5);
  t.equal(c.rateMbit(0.5), 0.5);
});

t.test('the base delay forgets a shorter path after BASE_HISTORY_MINUTES', async (t) => {
  const c = new DelayController({ targetMs: 10, floorMbit: FLOOR });
  c.observe(5, 0, MAX);
  t.equal(c.baseMs(), 5);
  c.observe(40, (BASE_HISTORY_MINUTES - 1) * 60_000, MAX);
  t.equal(c.baseMs(), 5, 'still remembered');
  c.observe(40, BASE_HISTORY_MINUTES * 60_000, MAX);
  t.equal(c.baseMs(), 40, 'the route changed: the longer path is the new base');
  t.equal(c.observe(41, BASE_HISTORY_MINUTES * 60_000 + 1, MAX), MAX);
});
