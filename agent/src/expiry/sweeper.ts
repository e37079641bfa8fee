/**
 * Deletes files whose deadline in {ID}:EXPIRE_FILES has passed, then their folders once empty, on a
 * node-cron schedule. It works from the scores in Redis, not from counted ticks, so a late or missed
 * run catches up. At start it reconciles disk and Redis: a file without an entry gets the default
 * deadline, an entry without a file is dropped.
 */
import { readdir, rmdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import cron from 'node-cron';
import type { ScheduledTask } from 'node-cron';
import type { Logger } from '../../../shared/src/log.js';
import { errnoOf, isIdOf } from '../../../shared/src/protocol/index.js';
import type { BoxKeys } from '../../../shared/src/redis-keys.js';
import type { PathLocks } from '../ingest/path-locks.js';
import { resolveInside } from '../ingest/store.js';

const BATCH = 500;

export interface SweeperDeps {
  redis: Redis;
  keys: BoxKeys;
  baseDirectory: string;
  defaultTtlSeconds: number;
  schedule: string;
  locks: PathLocks;
  log: Logger;
  now?: () => number;
}

export interface ExpirySweeper {
  reconcile(): Promise<{ adopted: number; dropped: number }>;
  /** Delete every due file now; resolves with how many entries were removed. */
  sweep(): Promise<number>;
  /** Entries whose deadline has passed but are not deleted yet (for metrics). */
  backlog(): Promise<number>;
  start(): void;
  stop(): Promise<void>;
}

export function createExpirySweeper(deps: SweeperDeps): ExpirySweeper {
  const root = path.resolve(deps.baseDirectory);
  const now = deps.now ?? Date.now;
  let task: ScheduledTask | undefined;
  let running: Promise<unknown> = Promise.resolve();

  async function removeFile(relativePath: string): Promise<void> {
    let file: string;
    try {
      file = resolveInside(root, relativePath);
    } catch {
      deps.log.warn({ entry: relativePath }, 'EXPIRE_FILES entry outside BASE_DIRECTORY dropped');
      return;
    }
    try {
      await unlink(file);
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') throw err;
    }
    // Remove folders left empty, up to and including the publisher's folder.
    for (let dir = path.dirname(file); dir.startsWith(root + path.sep); dir = path.dirname(dir)) {
      try {
        await rmdir(dir);
      } catch {
        break; // not empty (or gone): stop climbing
      }
    }
  }

  async function sweep(): Promise<number> {
    let removed = 0;
    for (;;) {
      const due = await deps.redis.zrangebyscore(deps.keys.expireFiles, '-inf', now() / 1000, 'LIMIT', 0, BATCH);
      for (const entry of due) {
        await deps.locks.run(entry, async () => {
          // Under the path's lock the deadline cannot move: a file re-sent since the range read keeps its copy.
          const score = await deps.redis.zscore(deps.keys.expireFiles, entry);
          if (score === null || Number(score) > now() / 1000) return;
          await removeFile(entry);
          await deps.redis.zrem(deps.keys.expireFiles, entry);
          removed += 1;
        });
      }
      if (due.length < BATCH) break;
    }
    if (removed > 0) deps.log.info({ removed }, 'expired files deleted');
    return removed;
  }

  async function walk(dir: string, out: string[]): Promise<void> {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full, out);
      else if (entry.isFile()) out.push(path.relative(root, full).split(path.sep).join('/'));
    }
  }

  return {
    async reconcile() {
      const onDisk: string[] = [];
      let publishers: string[] = [];
      try {
        publishers = (await readdir(root, { withFileTypes: true })).filter((e) => e.isDirectory() && isIdOf(e.name, 'PUBLISHER')).map((e) => e.name);
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT') throw err;
      }
      for (const p of publishers) await walk(path.join(root, p), onDisk);
      const known = new Set(await deps.redis.zrange(deps.keys.expireFiles, '0', '-1'));
      const deadline = now() / 1000 + deps.defaultTtlSeconds;
      const adopt = onDisk.filter((f) => !known.has(f));
      const diskSet = new Set(onDisk);
      const drop = [...known].filter((f) => !diskSet.has(f));
      const tx = deps.redis.multi();
      for (const f of adopt) tx.zadd(deps.keys.expireFiles, 'NX', deadline, f);
      if (drop.length > 0) tx.zrem(deps.keys.expireFiles, ...drop);
      await tx.exec();
      if (adopt.length + drop.length > 0) deps.log.info({ adopted: adopt.length, dropped: drop.length }, 'expiry list reconciled with the disk');
      return { adopted: adopt.length, dropped: drop.length };
    },
    sweep,
    async backlog() {
      return deps.redis.zcount(deps.keys.expireFiles, '-inf', now() / 1000);
    },
    start() {
      task = cron.schedule(
        deps.schedule,
        () => {
          running = sweep().catch((err: unknown) => deps.log.warn({ err }, 'expiry sweep failed; the next run retries'));
          return running;
        },
        { noOverlap: true, name: 'expiry' },
      );
    },
    async stop() {
      await task?.destroy();
      await running;
    },
  };
}

