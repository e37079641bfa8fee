// The box's file store when a publisher pipelines frames: two copies of one path written back to back
// end with the later one on disk, even when the earlier one is much bigger and finishes writing last;
// files renamed into one folder together share folder fsyncs (each still waits for an fsync that started
// after its call); and a publisher record's deadline already written is not written again per file.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { boxKeys } from '../../shared/src/redis-keys.js';
import { startRedis } from '../../test/helpers/redis.js';
import { FolderSyncs } from '../src/ingest/folder-syncs.js';
import { PathLocks } from '../src/ingest/path-locks.js';
import { createPublisherRecords } from '../src/ingest/publisher-records.js';
import { PublisherUsage } from '../src/ingest/publisher-usage.js';
import { FileStore } from '../src/ingest/store.js';

t.test('copies of one path written back to back: the later one wins, whichever finishes writing first', async (t) => {
  const redis = await startRedis(t);
  const keys = boxKeys('box-pipe');
  const base = t.testdir();
  const store = new FileStore({ redis: redis.client(), keys, baseDirectory: base, maxFileBytes: 64 << 20, diskReserveBytes: 0, locks: new PathLocks(), usage: new PublisherUsage() });
  await store.init();
  const big = Buffer.alloc(32 << 20, 1);
  const small = Buffer.from('the later copy');
  const [first, second] = await Promise.all([store.write('publisher-a', 'live/seg.ts', big, 60), store.write('publisher-a', 'live/seg.ts', small, 60)]);
  t.equal(first.size, big.length, 'the earlier copy was accepted');
  t.equal(second.size, small.length, 'the later copy was accepted');
  t.equal(readFileSync(path.join(base, 'publisher-a/live/seg.ts'), 'utf8'), 'the later copy', 'the later copy is the one on disk');
  const others = await Promise.all(['a', 'b', 'c'].map((n) => store.write('publisher-a', `live/${n}.ts`, Buffer.from(n), 60)));
  t.same(others.map((s) => s.relativePath), ['publisher-a/live/a.ts', 'publisher-a/live/b.ts', 'publisher-a/live/c.ts'], 'files side by side in one folder are all stored');
  t.same(others.map((s) => readFileSync(path.join(base, s.relativePath), 'utf8')), ['a', 'b', 'c'], 'with their own content');
});

t.test('renames into one folder share its fsyncs, each waiting for one that started after its call', async (t) => {
  const started: Array<{ dir: string; finish(): void }> = [];
  const syncs = new FolderSyncs((dir) => new Promise<void>((resolve) => started.push({ dir, finish: resolve })));
  const settled: string[] = [];
  const first = syncs.sync('/box/live').then(() => settled.push('first'));
  const during = ['second', 'third', 'fourth'].map((name) => syncs.sync('/box/live').then(() => settled.push(name)));
  const other = syncs.sync('/box/other').then(() => settled.push('other folder'));
  t.same(started.map((s) => s.dir), ['/box/live', '/box/other'], 'one fsync per folder runs; the calls during it wait');
  started[0]?.finish();
  await first;
  await new Promise((r) => setImmediate(r));
  t.same(settled, ['first'], 'the calls made while the first fsync ran are not served by it');
  t.equal(started.length, 3, 'one more fsync of the folder starts for all of them');
  started[2]?.finish();
  started[1]?.finish();
  await Promise.all([...during, other]);
  t.same(settled.filter((n) => n !== 'other folder'), ['first', 'second', 'third', 'fourth'], 'and serves all three');
  t.equal(started.length, 3, 'four renames into one folder cost two fsyncs');
});

t.test('a publisher record is extended once per new deadline, not once per file', async (t) => {
  const redis = await startRedis(t);
  const r = redis.client();
  const keys = boxKeys('box-rec');
  let now = 1_800_000_000_000;
  const records = createPublisherRecords({ redis: r, keys, ttlSeconds: 60, maxRecords: 10, now: () => now });
  const hello = { ID: 'publisher-a', IP: '127.0.0.1', TYPE: 'PUBLISHER' as const, COMMAND: 'PUBLISH' as const };
  await records.subscribe(hello);
  await records.fileStored('publisher-a', 600);
  const deadline = now / 1000 + 600;
  t.equal(Number(await r.zscore(keys.publisherRecords, 'publisher-a')), deadline, 'the first file extends the record to its TTL');
  // Moved by hand, to see whether the next file of the same second writes the same deadline again.
  await r.zadd(keys.publisherRecords, deadline - 100, 'publisher-a');
  await records.fileStored('publisher-a', 600);
  t.equal(Number(await r.zscore(keys.publisherRecords, 'publisher-a')), deadline - 100, 'a file with the deadline already written writes nothing');
  now += 5_000;
  await records.fileStored('publisher-a', 600);
  t.equal(Number(await r.zscore(keys.publisherRecords, 'publisher-a')), deadline + 5, 'a later deadline is written');
  await records.subscribe(hello);
  await r.zadd(keys.publisherRecords, deadline + 5 - 100, 'publisher-a');
  await records.fileStored('publisher-a', 600);
  t.equal(Number(await r.zscore(keys.publisherRecords, 'publisher-a')), deadline + 5, 'after a PUBLISH (which rewrites the record) the deadline is written again');
});
