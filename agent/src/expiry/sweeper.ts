/**
 * Deletes files whose deadline in {ID}:EXPIRE_FILES has passed, then their folders once empty, on a
 * cron schedule. It works from the scores in Redis, not from counted ticks, so a late or missed
 * run catches up. At start it reconciles disk and Redis (reconcile.ts).
 */
import { rmdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { cronOrThrow, scheduleCron } from '../../../shared/src/cron.js';
import type { CronTask } from '../../../shared/src/cron.js';
import type { Logger } from '../../../shared/src/log.js';
import { errnoOf } from '../../../shared/src/protocol/index.js';
import type { BoxKeys } from '../../../shared/src/redis-keys.js';
import type { PathLocks } from '../ingest/path-locks.js';
import { resolveInside } from '../ingest/store.js';
import { reconcileWithDisk } from './reconcile.js';

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
  /** A file was deleted (the per-publisher byte count). */
  onRemoved?(relativePath: string): void;
}

export interface ExpirySweeper {
  reconcile(): Promise<{ adopted: number; dropped: number }>;
  /** Delete every due file now; resolves with how many entries were removed. */
  sweep(): Promise<number>;
  /** Delete these files now, as if they had expired (a revoked publisher's). */
  removeNow(relativePaths: string[]): Promise<number>;
  /** Entries whose deadline has passed but are not deleted yet (for metrics). */
  backlog(): Promise<number>;
  start(): void;
  stop(): Promise<void>;
}

export function createExpirySweeper(deps: SweeperDeps): ExpirySweeper {
  const root = path.resolve(deps.baseDirectory);
  const now = deps.now ?? Date.now;
  let task: CronTask | undefined;
  let running: Promise<unknown> = Promise.resolve();

  async function sweep(): Promise<number> {
    let removed = 0;
    for (;;) {
      const due = await deps.redis.zrangebyscore(deps.keys.expireFiles, '-inf', now() / 1000, 'LIMIT', 0, BATCH);
      for (const entry of due) {
        await deps.locks.run(entry, async () => {
          // Under the path's lock the deadline cannot move: a file re-sent since the range read keeps its copy.
          const score = await deps.redis.zscore(deps.keys.expireFiles, entry);
          if (score === null || Number(score) > now() / 1000) return;
          await removeFile(root, entry, deps.log);
          await deps.redis.zrem(deps.keys.expireFiles, entry);
          deps.onRemoved?.(entry);
          removed += 1;
        });
      }
      if (due.length < BATCH) break;
    }
    if (removed > 0) deps.log.info({ removed }, 'expired files deleted');
    return removed;
  }

  return {
    reconcile: () => reconcileWithDisk({ ...deps, root, now }),
    sweep,
    async removeNow(relativePaths) {
      if (relativePaths.length === 0) return 0;
      // Due since the epoch: the sweep deletes them under their locks, as it does expired files.
      await deps.redis.zadd(deps.keys.expireFiles, ...relativePaths.flatMap((p) => [0, p]));
      return sweep();
    },
    backlog: () => deps.redis.zcount(deps.keys.expireFiles, '-inf', now() / 1000),
    start() {
      const run = (): Promise<unknown> => {
        running = sweep().catch((err: unknown) => deps.log.warn({ err }, 'expiry sweep failed; the next run retries'));
        return running;
      };
      task = scheduleCron(cronOrThrow('EXPIRY_CRON', deps.schedule), run);
    },
    async stop() {
      task?.stop();
      await running;
    },
  };
}

/** Deletes one expired file, then its folders once empty, up to and including the publisher's folder. */
async function removeFile(root: string, relativePath: string, log: Logger): Promise<void> {
  let file: string;
  try {
    file = resolveInside(root, relativePath);
  } catch {
    log.warn({ entry: relativePath }, 'EXPIRE_FILES entry outside BASE_DIRECTORY dropped');
    return;
  }
  try {
    await unlink(file);
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw err;
  }
  for (let dir = path.dirname(file); dir.startsWith(root + path.sep); dir = path.dirname(dir)) {
    try {
      await rmdir(dir);
    } catch {
      break; // not empty (or gone): stop climbing
    }
  }
}
