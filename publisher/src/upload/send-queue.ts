/**
 * Files waiting to go to boxes, from three sources: the original's Redis list
 * `{ID}:FILE:FILES_SENDING_QUEUE` of JSON {"FILE_PATH", "TTL"} (any program can enqueue), the watched
 * folder, and `dandelion publisher push`. A task names a local file (absolute, or relative to the
 * watched folder); boxes get it under its path inside the watched folder, or its base name when it
 * lies elsewhere. Only regular files are read, by the rules of regular-file.ts: inside the watched
 * folder no symlink is followed; outside it (a queue entry) the file must not itself be a link. A few
 * files go out at once; a queue entry that cannot be read is moved to `{ID}:FILE:REJECTED` with the
 * reason, never silently dropped.
 */
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { Logger } from '../../../shared/src/log.js';
import { isRecord, messageOf, normaliseFilePath, parseJsonSafe } from '../../../shared/src/protocol/index.js';
import type { PublisherKeys } from '../../../shared/src/redis-keys.js';
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
  private readonly waiting: SendTask[] = [];
  private running = 0;
  private idle: Array<() => void> = [];

  constructor(private readonly deps: SendQueueDeps) {}

  get depth(): number {
    return this.waiting.length + this.running;
  }

  enqueue(task: SendTask): void {
    this.waiting.push(task);
    this.pump();
  }

  /** Resolves when nothing is waiting or being sent. */
  drained(): Promise<void> {
    if (this.depth === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private pump(): void {
    while (this.running < (this.deps.concurrency ?? 4)) {
      const task = this.waiting.shift();
      if (task === undefined) return;
      this.running += 1;
      void this.send(task).finally(() => {
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
      const delivery = await this.deps.replicator.deliver(task.filePath, content, task.ttlSeconds);
      this.deps.onDelivered?.(task, delivery);
    } catch (err) {
      this.deps.log.error({ err, file: task.filePath }, 'delivery failed');
    }
  }
}

/**
 * Reads the Redis list with BLPOP on its own connection (a blocked connection can do nothing else),
 * one entry at a time, until stopped.
 */
export class RedisQueueReader {
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly deps: { redis: Redis; keys: PublisherKeys; queue: SendQueue; watchDirectory: string; defaultTtlSeconds: number; log: Logger },
  ) {}

  start(): void {
    const blocking = this.deps.redis.duplicate();
    blocking.on('error', () => {
      /* intentional: reconnects are retried; the loop logs failed reads */
    });
    this.loop = (async () => {
      while (!this.stopped) {
        try {
          const popped = await blocking.blpop(this.deps.keys.sendingQueue, 1);
          if (popped) await this.take(popped[1]);
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

  private async take(raw: string): Promise<void> {
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
      this.deps.queue.enqueue(task);
    } catch (err) {
      this.deps.log.warn({ task: raw.slice(0, 200), err: messageOf(err) }, 'queue entry rejected');
      await this.deps.redis.rpush(this.deps.keys.rejectedQueue, JSON.stringify({ TASK: raw.slice(0, 4096), ERROR: messageOf(err) }));
    }
  }
}
