// Cron schedules (EXPIRY_CRON, BANDWIDTH_TEST_CRON) in node-cron's syntax, run without node-cron's
// Intl-based clock: the same expressions are accepted, each run lands on the second the schedule names in
// local time, a run still going makes the next skip, and nothing asks Intl.DateTimeFormat.
import cron from 'node-cron';
import t from 'tap';
import { nextRun, parseCron, scheduleCron } from '../src/cron.js';
import type { CronSchedule } from '../src/cron.js';
import { checkCron } from '../src/config/spec.js';

const schedule = (expression: string): CronSchedule => {
  const parsed = parseCron(expression);
  if (typeof parsed === 'string') throw new Error(`${expression}: ${parsed}`);
  return parsed;
};
const local = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0): Date => new Date(y, mo - 1, d, h, mi, s);

t.test('accepts what node-cron accepts, refuses what it refuses (its L, W and # extensions aside)', async (t) => {
  const good = ['*/10 * * * * *', '23 17 */6 * * *', '* * * * *', '0 0 * * 0', '0 0 * * 7', '0 0 1 jan,jul *', '0 0 * * mon-fri', '0 22-2 * * *',
    '5,10,15 * * * * *', '0 0 12 ? * *', '@daily', '@hourly', '0 9-17/2 * * *', '0 0 * * Sunday', '0 0 1 * *'];
  const bad = ['', '* * * *', '* * * * * * *', '60 * * * * *', '* 60 * * * *', '* * 24 * * *', '* * * 0 * *', '* * * 32 * *', '* * * * 13 *',
    '* * * * * 8', 'a b c d e f', '*/0 * * * * *', '1-2-3 * * * *', '*-5 * * * *'];
  for (const e of good) {
    t.equal(cron.validate(e), true, `node-cron accepts "${e}"`);
    t.type(parseCron(e), 'object', `accepted: "${e}"`);
    t.equal(checkCron(e), undefined, `the config check accepts "${e}"`);
  }
  for (const e of bad) {
    t.equal(cron.validate(e), false, `node-cron refuses "${e}"`);
    t.type(parseCron(e), 'string', `refused: "${e}"`);
    t.match(checkCron(e), /^must be a node-cron schedule/, `the config check refuses "${e}" with a reason`);
  }
  t.match(parseCron('* * * 32 * *'), /day of month: 32 is outside 1-31/, 'the reason names the field');
});

t.test('the next run, in local time', async (t) => {
  const at = (e: string, from: Date): Date | undefined => nextRun(schedule(e), from);
  t.same(at('*/10 * * * * *', local(2026, 3, 1, 12, 0, 3)), local(2026, 3, 1, 12, 0, 10), 'every ten seconds: the next tenth');
  t.same(at('*/10 * * * * *', local(2026, 3, 1, 12, 0, 10)), local(2026, 3, 1, 12, 0, 20), 'strictly after the given second');
  t.same(at('23 17 */6 * * *', local(2026, 3, 1, 12, 30)), local(2026, 3, 1, 18, 17, 23), 'hours 0, 6, 12, 18 at :17:23');
  t.same(at('0 0 * * 0', local(2026, 3, 4, 9)), local(2026, 3, 8), 'midnight on the next Sunday (4 March 2026 is a Wednesday)');
  t.same(at('0 0 * * 7', local(2026, 3, 4, 9)), local(2026, 3, 8), '7 is Sunday too');
  t.same(at('0 0 1 jan,jul *', local(2026, 3, 4)), local(2026, 7, 1), 'month names');
  t.same(at('0 0 13 * fri', local(2026, 1, 1)), local(2026, 2, 13), 'day of month AND day of week, as node-cron');
  t.same(at('0 22-2 * * *', local(2026, 3, 1, 3)), local(2026, 3, 1, 22), 'a range that wraps past midnight');
  t.same(at('0 0 29 2 *', local(2026, 3, 1)), local(2028, 2, 29), '29 February: the next leap year');
  t.equal(at('0 0 30 2 *', local(2026, 3, 1)), undefined, '30 February never comes');
});

t.test('runs on schedule, skips a tick while a run is still going, stops', async (t) => {
  let runs = 0;
  let release: (() => void) | undefined;
  const task = scheduleCron(schedule('* * * * * *'), () => {
    runs++;
    return new Promise<void>((r) => (release = r)); // the first run holds on until released
  });
  await new Promise((r) => setTimeout(r, 3500));
  t.equal(runs, 1, 'ticks while the first run is still going are skipped');
  release?.();
  await new Promise((r) => setTimeout(r, 2200));
  t.ok(runs >= 2, `runs again once the first finished (${runs})`);
  task.stop();
  const after = runs;
  release?.();
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(runs, after, 'no run after stop()');
});

t.test('never asks Intl for the time (node-cron does, and that maps ICU into the agent)', async (t) => {
  const original = Intl.DateTimeFormat;
  let asked = 0;
  // A spy that counts construction and still works.
  Intl.DateTimeFormat = function (...args: ConstructorParameters<typeof Intl.DateTimeFormat>) {
    asked++;
    return new original(...args);
  } as unknown as typeof Intl.DateTimeFormat;
  t.teardown(() => {
    Intl.DateTimeFormat = original;
  });
  let runs = 0;
  const task = scheduleCron(schedule('* * * * * *'), () => void runs++);
  await new Promise((r) => setTimeout(r, 2200));
  task.stop();
  t.ok(runs >= 1, 'it ran');
  t.equal(asked, 0, 'no Intl.DateTimeFormat made');
});
