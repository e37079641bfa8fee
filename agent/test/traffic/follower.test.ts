// When the follower asks for a read pass, with a counting pass and no Redis: once at start; on a file
// event in the log's folder well before the fallback poll; on the poll when events are missed; again
// after a failing pass (logged, not thrown); a failing first pass rejects start(); never after stop().
import { appendFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { silentLogger } from '../../../shared/src/log.js';
import { LogFollower } from '../../src/traffic/follower.js';
import { capturedLogger, eventually } from './fixtures/access-lines.js';

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

t.test('writes to other files in the folder ask for no pass; a rotation of the log does', async (t) => {
  const dir = t.testdir();
  const logPath = path.join(dir, 'access.log');
  writeFileSync(logPath, 'line\n');
  let passes = 0;
  const follower = new LogFollower({ logPath, pollMs: HOUR_MS, log: silentLogger(), pass: async () => void (passes += 1) });
  t.teardown(() => follower.stop());
  await follower.start();
  for (let i = 0; i < 20; i++) appendFileSync(path.join(dir, 'nginx-error.log'), `noise ${i}\n`);
  await new Promise((resolve) => setTimeout(resolve, 600));
  t.equal(passes, 1, 'the error log beside the access log is not the access log');
  renameSync(logPath, `${logPath}.1`);
  await eventually(async () => passes >= 2, 'a pass after the log was renamed away');
  const after = passes;
  writeFileSync(logPath, 'new file\n');
  await eventually(async () => passes > after, 'a pass after nginx created the log again');
});

t.test('a log folder that cannot be watched: a warning, and the poll still reads', async (t) => {
  const logPath = path.join(t.testdir(), 'missing-folder', 'access.log');
  const { log, events } = capturedLogger();
  let passes = 0;
  const follower = new LogFollower({ logPath, pollMs: 20, log, pass: async () => void (passes += 1) });
  t.teardown(() => follower.stop());
  await follower.start();
  await eventually(async () => passes >= 3, 'the poll goes on');
  t.match(events(), [{ msg: 'watching the access log failed; polling only' }]);
});
