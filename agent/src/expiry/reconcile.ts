/**
 * At start, disk and {ID}:EXPIRE_FILES are made to agree: a file on disk without an entry gets the
 * default deadline (it was written, then the agent or Redis lost its entry), and an entry without a
 * file is dropped. Only publishers' folders are looked at, and dot files (temp files) are not files yet.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { Logger } from '../../../shared/src/log.js';
import { errnoOf, isIdOf } from '../../../shared/src/protocol/index.js';
import type { BoxKeys } from '../../../shared/src/redis-keys.js';

export interface ReconcileDeps {
  redis: Redis;
  keys: BoxKeys;
  /** BASE_DIRECTORY, resolved. */
  root: string;
  defaultTtlSeconds: number;
  log: Logger;
  now: () => number;
}

export async function reconcileWithDisk(deps: ReconcileDeps): Promise<{ adopted: number; dropped: number }> {
  const { redis, keys, root } = deps;
  const onDisk: string[] = [];
  for (const p of await publisherFolders(root)) await walk(root, path.join(root, p), onDisk);
  const known = new Set(await redis.zrange(keys.expireFiles, '0', '-1'));
  const deadline = deps.now() / 1000 + deps.defaultTtlSeconds;
  const adopt = onDisk.filter((f) => !known.has(f));
  const diskSet = new Set(onDisk);
  const drop = [...known].filter((f) => !diskSet.has(f));
  const tx = redis.multi();
  for (const f of adopt) tx.zadd(keys.expireFiles, 'NX', deadline, f);
  if (drop.length > 0) tx.zrem(keys.expireFiles, ...drop);
  await tx.exec();
  if (adopt.length + drop.length > 0) deps.log.info({ adopted: adopt.length, dropped: drop.length }, 'expiry list reconciled with the disk');
  return { adopted: adopt.length, dropped: drop.length };
}

async function publisherFolders(root: string): Promise<string[]> {
  try {
    return (await readdir(root, { withFileTypes: true })).filter((e) => e.isDirectory() && isIdOf(e.name, 'PUBLISHER')).map((e) => e.name);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return [];
    throw err;
  }
}

/** Adds the files under `dir` to `out`, as paths relative to `root` with forward slashes (as EXPIRE_FILES holds them). */
async function walk(root: string, dir: string, out: string[]): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await walk(root, full, out);
    else if (entry.isFile()) out.push(path.relative(root, full).split(path.sep).join('/'));
  }
}
