/**
 * Files waiting to go to boxes, from three sources: the original's Redis list
 * `{ID}:FILE:FILES_SENDING_QUEUE` of JSON {"FILE_PATH", "TTL"} (any program can enqueue), the watched
 * folder, and `dandelion publisher push`. A task names a local file (absolute, or relative to the
 * watched folder); boxes get it under its path inside the watched folder, or its base name when it
 * lies elsewhere. Only regular files are read, by the rules of regular-file.ts: inside the watched
 * folder no symlink is followed; outside it (a queue entry) the file must not itself be a link. A few
 * files go out at once; a queue entry that cannot be read is moved to `{ID}:FILE:REJECTED` with the
 * reason, never silently dropped.
 *
 * The Redis list is read as a reliable queue: an entry is moved (BLMOVE) to
 * `{ID}:FILE:FILES_SENDING_PROCESSING` and removed from there only once its delivery has ended, so a
 * publisher killed with entries taken but not sent finds them there when it starts again. Those are
 * resumed: copies PROCESSED_FILES already lists are not sent a second time.
 */
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { Logger } from '../../../shared/src/log.js';
import { isRecord, messageOf, normaliseFilePath, parseJsonSafe } from '../../../shared/src/protocol/index.js';
import type { PublisherKeys } from '../../../shared/src/redis-keys.js';
import { duplicateClient } from '../../../shared/src/redis.js';
import { inspectFile, isFileRefused, isInside, readRegularFile } from './regular-file.js';
import type { FileRule } from './regular-file.js';
import type { Delivery, Replicator } from './replicator.js';

export interface SendTask {
  /** The local file. */
  localPath: string;
  /** FILE_PATH the boxes store it under. */
  filePath: string;
  ttlSeconds: number;
  /** How the local file may be reached (regular-file.ts). */
  rule: FileRule;
  /** Taken up after a restart: copies already confirmed are kept, not sent again (Replicator.deliver). */
  resume?: boolean;
}

interface QueuedTask {
  task: SendTask;
  /** Called when the task has ended, delivered or not (the Redis entry is finished then). */
  onDone?: () => Promise<void>;
}

export interface SendQueueDeps {
  replicator: Replicator;
  watchDirectory: string;
  defaultTtlSeconds: number;
  concurrency?: number;
  log: Logger;
  onDelivered?(task: SendTask, delivery: Delivery): void;
}

/** Map a local path to its task, or throw with the reason. */
export function taskFor(localPath: string, ttlSeconds: number, watchDirectory: string): SendTask {
  const absolute = path.resolve(watchDirectory, localPath);
  const root = path.resolve(watchDirectory);
  const inside = isInside(root, absolute);
  const name = inside ? path.relative(root, absolute).split(path.sep).join('/') : path.basename(absolute);
  return { localPath: absolute, filePath: normaliseFilePath(name), ttlSeconds, rule: inside ? { kind: 'inside', root } : { kind: 'nolink' } };
}

export class SendQueue {
  private readonly waiting: QueuedTask[] = [];
  private running = 0;
  private idle: Array<() => void> = [];

  constructor(private readonly deps: SendQueueDeps) {}

  get depth(): number {
    return this.waiting.length + this.running;
  }

  enqueue(task: SendTask, onDone?: () => Promise<void>): void {
    this.waiting.push(onDone ? { task, onDone } : { task });
    this.pump();
  }

  /** Resolves when nothing is waiting or being sent. */
  drained(): Promise<void> {
    if (this.depth === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private pump(): void {
    while (this.running < (this.deps.concurrency ?? 4)) {
      const queued = this.waiting.shift();
      if (queued === undefined) return;
      this.running += 1;
      void this.send(queued.task).then(() => queued.onDone?.()).catch((err: unknown) => {
        this.deps.log.warn({ file: queued.task.localPath, err: messageOf(err) }, 'could not mark a queue entry done; it is sent again after a restart');
      }).finally(() => {
        this.running -= 1;
        this.pump();
        if (this.depth === 0) for (const resolve of this.idle.splice(0)) resolve();
      });
    }
  }

  private async send(task: SendTask): Promise<void> {
    let content: Buffer;
    try {
      content = await readRegularFile(task.localPath, task.rule);
    } catch (err) {
      if (isFileRefused(err)) return void this.deps.log.warn({ file: task.localPath, code: err.code, reason: err.message }, 'not a regular file; not sent');
      this.deps.log.warn({ file: task.localPath, err: messageOf(err) }, 'file not readable; not sent');
      return;
    }
    try {
      const delivery = await this.deps.replicator.deliver(task.filePath, content, task.ttlSeconds, { resume: task.resume === true });
      this.deps.onDelivered?.(task, delivery);
    } catch (err) {
      this.deps.log.error({ err, file: task.filePath }, 'delivery failed');
    }
  }
}

/** How often the reader looks again for a ready box before it takes entries. */
const BOX_WAIT_MS = 250;

/**
 * Reads the Redis list with BLMOVE on its own connection (a blocked connection can do nothing else),
 * one entry at a time, until stopped; first it takes up the entries a previous run left in the
 * processing list.
 */
export class RedisQueueReader {
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly deps: {
      redis: Redis; keys: PublisherKeys; queue: SendQueue; watchDirectory: string; defaultTtlSeconds: number; log: Logger;
      /** Whether any box is ready: entries are taken only then, since a send with no box ends in no copy. */
      hasBoxes(): boolean;
    },
  ) {}

  start(): void {
    const blocking = duplicateClient(this.deps.redis);
    blocking.on('error', () => {
      /* intentional: reconnects are retried; the loop logs failed reads */
    });
    const { sendingQueue, sendingProcessing } = this.deps.keys;
    this.loop = (async () => {
      await this.boxesReady();
      await this.recover();
      while (!this.stopped) {
        try {
          await this.boxesReady();
          const taken = await blocking.blmove(sendingQueue, sendingProcessing, 'LEFT', 'RIGHT', 1);
          if (taken !== null) await this.take(taken, false);
        } catch (err) {
          if (this.stopped) break;
          this.deps.log.warn({ err: messageOf(err) }, 'reading the sending queue failed; retrying');
          await new Promise((r) => setTimeout(r, 1_000));
        }
      }
      blocking.disconnect();
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  /** Resolves once a box is ready (or the reader stops): entries wait in Redis meanwhile, not in memory. */
  private async boxesReady(): Promise<void> {
    while (!this.stopped && !this.deps.hasBoxes()) await new Promise((r) => setTimeout(r, BOX_WAIT_MS));
  }

  /** Entries taken by a run that ended before finishing them: each is sent again, resumed. */
  private async recover(): Promise<void> {
    for (;;) {
      try {
        const left = await this.deps.redis.lrange(this.deps.keys.sendingProcessing, 0, -1);
        if (left.length > 0) this.deps.log.info({ entries: left.length }, 'taking up queue entries a previous run left unfinished');
        for (const raw of left) await this.take(raw, true);
        return;
      } catch (err) {
        if (this.stopped) return;
        this.deps.log.warn({ err: messageOf(err) }, 'reading the unfinished queue entries failed; retrying');
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  }

  /** One taken entry (it is in the processing list): queued, or rejected with its reason. */
  private async take(raw: string, resume: boolean): Promise<void> {
    const { redis, keys } = this.deps;
    const finish = async (): Promise<void> => void (await redis.lrem(keys.sendingProcessing, 1, raw));
    try {
      const v = parseJsonSafe(raw);
      if (!isRecord(v) || typeof v.FILE_PATH !== 'string' || v.FILE_PATH === '') throw new Error('needs {"FILE_PATH": "...", "TTL": seconds}');
      const ttl = v.TTL === undefined || v.TTL === null ? this.deps.defaultTtlSeconds : Number(v.TTL);
      if (!Number.isFinite(ttl) || ttl < 1 || ttl > 7 * 24 * 3600) throw new Error('TTL must be 1 s to 7 days');
      const task = taskFor(v.FILE_PATH, ttl, this.deps.watchDirectory);
      // A link or a FIFO is refused here, so the entry lands in REJECTED with the reason; a file that
      // is missing now is left to the send (it may still be being written).
      await inspectFile(task.localPath, task.rule).catch((err: unknown) => {
        if (isFileRefused(err)) throw err;
      });
      this.deps.queue.enqueue(resume ? { ...task, resume } : task, finish);
    } catch (err) {
      this.deps.log.warn({ task: raw.slice(0, 200), err: messageOf(err) }, 'queue entry rejected');
      // One transaction: the entry is in exactly one of the two lists whenever the process dies. Should
      // Redis fail here, the entry stays in the processing list and the next start rejects it again.
      await redis.multi().rpush(keys.rejectedQueue, JSON.stringify({ TASK: raw.slice(0, 4096), ERROR: messageOf(err) })).lrem(keys.sendingProcessing, 1, raw).exec()
        .catch((failed: unknown) => this.deps.log.warn({ err: messageOf(failed) }, 'could not move a rejected entry to REJECTED'));
    }
  }
}
