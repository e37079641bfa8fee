// Reconciling disk and EXPIRE_FILES at start, on a real Redis and a test folder: only files inside
// publishers' folders count, dot files (temp files mid-write) are not files yet, nested folders are
// walked and named with forward slashes, and a missing BASE_DIRECTORY is an empty disk, not an error.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { silentLogger } from '../../../shared/src/log.js';
import { boxKeys } from '../../../shared/src/redis-keys.js';
import { startRedis } from '../../../test/helpers/redis.js';
import { reconcileWithDisk } from '../../src/expiry/reconcile.js';

const NOW_MS = 1_800_000_000_000;

t.test('what counts as a file on disk', async (t) => {
  const r = (await startRedis(t)).client();
  const keys = boxKeys('box-rec');
  const root = t.testdir();
  mkdirSync(path.join(root, 'publisher-a/live/hd'), { recursive: true });
  writeFileSync(path.join(root, 'publisher-a/live/hd/seg.ts'), 'x');
  writeFileSync(path.join(root, 'publisher-a/live/.seg2.ts.tmp'), 'half');
  mkdirSync(path.join(root, 'publisher-a/.hidden'), { recursive: true });
  writeFileSync(path.join(root, 'publisher-a/.hidden/x.ts'), 'x');
  mkdirSync(path.join(root, 'lost+found'), { recursive: true });
  writeFileSync(path.join(root, 'lost+found/y.ts'), 'y');
  writeFileSync(path.join(root, 'top.ts'), 'z');

  const result = await reconcileWithDisk({ redis: r, keys, root, defaultTtlSeconds: 30, log: silentLogger(), now: () => NOW_MS });
  t.same(result, { adopted: 1, dropped: 0 });
  t.same(await r.zrange(keys.expireFiles, '0', '-1', 'WITHSCORES'), ['publisher-a/live/hd/seg.ts', String(NOW_MS / 1000 + 30)]);
  t.same(await reconcileWithDisk({ redis: r, keys, root, defaultTtlSeconds: 30, log: silentLogger(), now: () => NOW_MS + 1000 }), { adopted: 0, dropped: 0 }, 'a second run finds them agreeing');
});

t.test('a missing BASE_DIRECTORY: every entry is dropped', async (t) => {
  const r = (await startRedis(t)).client();
  const keys = boxKeys('box-rec2');
  await r.zadd(keys.expireFiles, 1, 'publisher-a/x.ts', 2, 'publisher-b/y.ts');
  const result = await reconcileWithDisk({ redis: r, keys, root: path.join(t.testdir(), 'never-made'), defaultTtlSeconds: 30, log: silentLogger(), now: () => NOW_MS });
  t.same(result, { adopted: 0, dropped: 2 });
  t.equal(await r.zcard(keys.expireFiles), 0);
});
