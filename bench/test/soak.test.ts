// The soak at a few dozen boxes for a few seconds on a real Redis Cluster: the boxes enrol, sign in at
// two entrance processes, heartbeat, and the report has real figures. Its options are checked before anything starts, and the
// RSS trend is a least-squares slope.
import t from 'tap';
import { UsageError } from '../../shared/src/cli.js';
import { boxesThatFit, parseSoakArgs, runSoak } from '../src/soak/main.js';
import { formatSoakReport, rssTrend } from '../src/soak/report.js';

t.test('options: defaults, overrides, and a bad value named', async (t) => {
  t.match(parseSoakArgs([]), { boxes: 100_000, minutes: 10, entrances: 3, periodSeconds: 60, redis: 'cluster' });
  t.match(parseSoakArgs(['--redis', 'single']), { redis: 'single' });
  t.throws(() => parseSoakArgs(['--redis', 'many']), /--redis must be cluster or single/);
  t.match(parseSoakArgs(['--boxes', '500', '--minutes', '0.5', '--entrances', '2', '--period', '5']), { boxes: 500, minutes: 0.5, entrances: 2, periodSeconds: 5 });
  t.throws(() => parseSoakArgs(['--boxes', '0']), UsageError);
  t.throws(() => parseSoakArgs(['--boxes']), /--boxes must be a number/);
  t.throws(() => parseSoakArgs(['--fast']), /unknown option --fast/);
});

t.test('boxes beyond what the entrances\' open files hold are lowered, and the reason given', async (t) => {
  t.same(boxesThatFit({ boxes: 50_000, entrances: 3 }, 18_000), { boxes: 50_000 });
  const lowered = boxesThatFit({ boxes: 100_000, entrances: 3 }, 18_000);
  t.equal(lowered.boxes, 54_000);
  t.match(lowered.lowered, /lowered from 100000 to 54000 boxes: the open-file limit/);
});

t.test('the RSS trend is the slope of RSS against minutes', async (t) => {
  const samples = [0, 1, 2, 3].map((m) => ({ atMinutes: m, rssMiB: [100 + 2 * m, 50], connected: 1 }));
  t.equal(rssTrend(samples, 0), 2, '2 MiB a minute');
  const warming = [0, 1, 2, 3].map((m) => ({ atMinutes: m, rssMiB: [m < 2 ? 100 * m : 300], connected: 1 }));
  t.equal(rssTrend(warming, 0), 0, 'the warm-up (first half) is left out');
  t.equal(rssTrend(samples, 1), 0, 'flat');
  t.ok(Number.isNaN(rssTrend(samples.slice(0, 1), 0)), 'one sample: no trend');
});

t.test('a short soak: every box connects and heartbeats, and the report says so', async (t) => {
  const figures = await runSoak({ boxes: 40, minutes: 0.1, entrances: 2, periodSeconds: 2, clients: 2, sampleSeconds: 2, redis: 'cluster' }, (line) => t.comment(line));
  t.equal(figures.connected, 40, 'every box connected');
  t.ok(figures.accepted > 40, `heartbeats accepted: ${figures.accepted}`);
  // A heartbeat sent in one window may be answered in the next: at most one in flight per box.
  t.ok(figures.accepted <= figures.sent + 40, `accepted ${figures.accepted}, sent ${figures.sent}: at most one reply per heartbeat`);
  t.ok(Number.isFinite(figures.p99Ms) && figures.p99Ms > 0, `p99 ${figures.p99Ms} ms`);
  t.equal(figures.entranceRssKiBPerBox.length, 2, 'an RSS figure per entrance');
  t.ok(figures.redisBytesPerBox > 0, `Redis bytes per box: ${figures.redisBytesPerBox}`);
  t.ok(figures.samples.length >= 2, 'sampled during the soak');
  t.match(formatSoakReport(figures, new Date()), /\| dropped heartbeats \| \d+ \| 0 \|/);
});
