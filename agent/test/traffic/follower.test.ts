// When the follower asks for a read pass, with a counting pass and no Redis: once at start; on a file
// event in the log's folder well before the fallback poll; on the poll when events are missed; again
// after a failing pass (logged, not thrown); a failing first pass rejects start(); never after stop().
import { appendFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { silentLogger } from '../../../shared/src/log.js';
import { LogFollower } from '../../src/traffic/follower.js';
import { eventually } from './fixtures/access-lines.js';

const HOUR_MS = 3_600_000;

t.test('a pass at start and on each burst of writes', async (t) => {
  const logPath = path.join(t.testdir(), 'access.log');
  let passes = 0;
  const follower = new LogFollower({ logPath, pollMs: HOUR_MS, log: silentLogger(), pass: async () => void (passes += 1) });
  t.teardown(() => follower.stop());
  await follower.start();
  t.equal(passes, 1, 'the first pass runs within start()');
  writeFileSync(logPath, 'line\n');
  await eventually(async () => passes >= 2, 'a pass after the log appeared');
  const after = passes;
  appendFileSync(logPath, 'another\n');
  await eventually(async () => passes > after, 'a pass after a write');
  await follower.stop();
  const stoppedAt = passes;
  appendFileSync(logPath, 'after stop\n');
  await new Promise((resolve) => setTimeout(resolve, 600));
  t.equal(passes, stoppedAt, 'no pass after stop()');
});

t.test('the poll retries a failing pass', async (t) => {
  const logPath = path.join(t.testdir(), 'access.log');
  let calls = 0;
  const follower = new LogFollower({
    logPath, pollMs: 20, log: silentLogger(),
    pass: async () => {
      calls += 1;
      if (calls === 2) throw new Error('redis went away');
    },
  });
  t.teardown(() => follower.stop());
  await follower.start();
  await eventually(async () => calls >= 4, 'passes go on after one failed');
  t.pass('a failing pass did not stop the follower');
});

t.test('a failing first pass rejects start()', async (t) => {
  const logPath = path.join(t.testdir(), 'access.log');
  const follower = new LogFollower({ logPath, pollMs: 20, log: silentLogger(), pass: () => Promise.reject(new Error('no redis')) });
  await t.rejects(follower.start(), { message: 'no redis' });
  await follower.stop();
});
