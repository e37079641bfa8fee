// The expiry sweep works from deadlines in Redis, removes empty folders, and at start reconciles the
// disk with Redis: files without an entry get the default deadline, entries without a file go.
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { silentLogger } from '../../shared/src/log.js';
import { boxKeys } from '../../shared/src/redis-keys.js';
import { startRedis } from '../../test/helpers/redis.js';
import { createExpirySweeper } from '../src/expiry/sweeper.js';
import { PathLocks } from '../src/ingest/path-locks.js';

t.test('reconcile, then sweep by deadline', async (t) => {
  const redis = await startRedis(t);
  const r = redis.client();
  const base = t.testdir();
  const keys = boxKeys('box-exp');
  let now = 1_800_000_000_000;
  mkdirSync(path.join(base, 'publisher-a/live'), { recursive: true });
  writeFileSync(path.join(base, 'publisher-a/live/orphan.ts'), 'x');
  writeFileSync(path.join(base, 'publisher-a/live/known.ts'), 'y');
  mkdirSync(path.join(base, 'not-a-publisher'), { recursive: true });
  writeFileSync(path.join(base, 'not-a-publisher/keep.txt'), 'z');
  await r.zadd(keys.expireFiles, now / 1000 + 500, 'publisher-a/live/known.ts');
  await r.zadd(keys.expireFiles, now / 1000 + 5, 'publisher-a/gone.ts');
  await r.zadd(keys.expireFiles, 0, '../../outside.txt');

  const sweeper = createExpirySweeper({ redis: r, keys, baseDirectory: base, defaultTtlSeconds: 60, schedule: '* * * * * *', locks: new PathLocks(), log: silentLogger(), now: () => now });
  t.same(await sweeper.reconcile(), { adopted: 1, dropped: 2 }, 'one orphan file adopted, two entries without files dropped');
  t.equal(Number(await r.zscore(keys.expireFiles, 'publisher-a/live/orphan.ts')), now / 1000 + 60, 'default deadline');
  t.equal(Number(await r.zscore(keys.expireFiles, 'publisher-a/live/known.ts')), now / 1000 + 500, 'existing deadline kept');

  now += 61_000;
  t.equal(await sweeper.backlog(), 1);
  t.equal(await sweeper.sweep(), 1);
  t.notOk(existsSync(path.join(base, 'publisher-a/live/orphan.ts')));
  t.ok(existsSync(path.join(base, 'publisher-a/live/known.ts')));
  now += 500_000;
  t.equal(await sweeper.sweep(), 1);
  t.notOk(existsSync(path.join(base, 'publisher-a')), 'empty folders removed up to the publisher folder');
  t.ok(existsSync(path.join(base, 'not-a-publisher/keep.txt')), 'nothing outside publisher folders is touched');
  t.equal(await r.zcard(keys.expireFiles), 0);
});
