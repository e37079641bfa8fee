// nginx's access log rotated by rename, truncated in place and deleted while the box's tail follows it,
// with viewers fetching throughout: the entrance counts every request exactly once.
import { readFileSync, renameSync, rmSync, statSync, truncateSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { eventually } from '../helpers/agent.js';
import { boxKeys } from '../../shared/src/redis-keys.js';
import { servingBox, settledCount, view } from './serving.js';

/** nginx reopens its log (what logrotate's postrotate does with USR1): a missing log is created again. */
function reopen(runDirectory: string): void {
  process.kill(Number(readFileSync(path.join(runDirectory, 'nginx.pid'), 'utf8').trim()), 'SIGUSR1');
}

t.test('log rotated, truncated and deleted while tailed: exact counts at the entrance', async (t) => {
  const s = await servingBox(t);
  const log = s.box.status.accessLogPath;
  const offsetKey = boxKeys(s.box.boxId).trafficOffset;
  /** The tail has read the log up to its end. */
  const caughtUp = (): Promise<boolean> => eventually(async () => {
    const saved = await s.r.hgetall(offsetKey);
    const live = statSync(log, { bigint: true });
    return saved.inode === String(live.ino) && Number(saved.offset) === Number(live.size);
  }, 20_000, 50);
  let made = 0;
  const fetchSome = async (n: number): Promise<void> => {
    t.equal(await view(s.fileUrl, n), n, `${n} viewer requests answered`);
    made += n;
  };

  await fetchSome(5);
  // Rotation by rename: nginx writes on into the renamed file until it reopens.
  renameSync(log, `${log}.1`);
  await fetchSome(4);
  reopen(s.box.runDirectory);
  t.ok(await eventually(() => statSync(log, { throwIfNoEntry: false }) !== undefined, 10_000), 'nginx made a new log');
  await fetchSome(6);
  t.ok(await caughtUp(), 'the tail followed the rotation to the new log');

  // Truncation in place (copytruncate), once the tail has read what was there: reading starts again at 0.
  await fetchSome(3);
  t.ok(await caughtUp(), 'the tail read the log before its truncation');
  truncateSync(log, 0);
  await fetchSome(7);
  t.ok(await caughtUp(), 'the tail read the truncated log from its start');

  // Deletion: nginx writes on into the deleted file, which the tail holds open, until it reopens.
  await fetchSome(2);
  rmSync(log);
  rmSync(`${log}.1`);
  await fetchSome(5);
  reopen(s.box.runDirectory);
  t.ok(await eventually(() => statSync(log, { throwIfNoEntry: false }) !== undefined, 10_000), 'nginx made the log again');
  await fetchSome(4);
  t.ok(await caughtUp(), 'the tail followed the deleted log to the new one');

  t.equal(await settledCount(s, made), made, `the entrance counted each of the ${made} requests once`);
});
