/**
 * Reads nginx's access log from the saved position onwards, chunk by chunk, and commits each chunk's
 * records and aggregates with the position after it (commit.ts). Follows a rotation by rename to the
 * end of the old file before it opens the new one; restarts at 0 after a truncation in place.
 * Everything that touches the file handle runs one call after another.
 */
import { isAscii } from 'node:buffer';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { Logger } from '../../../shared/src/log.js';
import type { BoxKeys } from '../../../shared/src/redis-keys.js';
import { TrafficBatch } from './batch.js';
import { trafficCommitter } from './commit.js';
import type { CommitChunk } from './commit.js';
import { NEWLINE, leaveRotated, openLog, restartIfTruncated, statOrUndefined } from './log-file.js';
import type { OpenLog } from './log-file.js';
import { RecordBudget } from './record-budget.js';

/**
 * Largest single read, and the unit of one commit; the buffer is allocated once per reader. Larger chunks
 * read no faster, and the strings and records of the chunk in flight set the agent's peak RSS while it
 * works through a backlog (bench agent-memory), so this is as small as keeps the speed.
 */
const CHUNK_BYTES = 256 << 10;
/** Most bytes one pass consumes; the next pass goes on from there, so a backlog never sits in memory. */
const PASS_BYTES = 8 << 20;

export interface LogReaderDeps {
  redis: Redis;
  keys: BoxKeys;
  logPath: string;
  recordTtlSeconds: number;
  log: Logger;
  /** Told the bytes of each committed chunk (the household's monthly quota counts them). */
  onServed?(bytes: number): void;
}

interface Consumed {
  lines: number;
  bytes: number;
  drained: boolean;
}

export class LogReader {
  private readonly logPath: string;
  private readonly commit: CommitChunk;
  private readonly buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  private readonly recordBudget: RecordBudget;
  private reading: OpenLog | undefined;
  /** False until the position is loaded from Redis, and again after a failed pass, so the next one reloads it. */
  private resumed = false;
  private queue: Promise<unknown> = Promise.resolve();
  /** $bytes_sent (all statuses) consumed so far by this process. */
  bytesServed = 0;
  /** Lines with a status ≥ 500 consumed so far by this process. */
  serverErrors = 0;

  constructor(private readonly deps: LogReaderDeps) {
    this.logPath = path.resolve(deps.logPath);
    this.commit = trafficCommitter(deps.redis, deps.keys, deps.recordTtlSeconds);
    this.recordBudget = new RecordBudget(deps.recordTtlSeconds * 1000);
  }

  /** One read pass; resolves with the number of complete lines consumed. */
  pass(): Promise<number> {
    return this.serialized(async () => {
      try {
        return await this.readPass();
      } catch (err) {
        await this.forgetPosition();
        throw err;
      }
    });
  }

  /** Bytes in the log not yet consumed. */
  lagBytes(): Promise<number> {
    return this.serialized(async () => {
      await this.ensureResumed();
      let lag = 0;
      if (this.reading) lag += Math.max(0, (await this.reading.handle.stat()).size - this.reading.offset);
      const live = await statOrUndefined(this.logPath);
      if (live && String(live.ino) !== this.reading?.inode) lag += Number(live.size); // not opened yet, or rotated in
      return lag;
    });
  }

  /** Close the log after any pass in flight; the next pass resumes from Redis. */
  close(): Promise<void> {
    return this.serialized(() => this.forgetPosition());
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined); // intentional: the caller gets the error; later calls still run
    return run;
  }

  private async ensureResumed(): Promise<void> {
    if (this.resumed) return;
    this.reading = await this.resume();
    this.resumed = true;
  }

  /** The saved position's file: still at the log path, or renamed to `.1` while the agent was stopped. */
  private async resume(): Promise<OpenLog | undefined> {
    const saved = await this.deps.redis.hgetall(this.deps.keys.trafficOffset);
    if (saved.inode === undefined) return undefined; // first start: the live log from its beginning
    const offset = Number(saved.offset);
    for (const candidate of new Set([saved.path ?? this.logPath, this.logPath, `${this.logPath}.1`])) {
      const found = await openLog(candidate, saved.inode);
      if (!found) continue;
      found.offset = Number.isSafeInteger(offset) && offset >= 0 ? offset : 0;
      return found;
    }
    this.deps.log.warn({ saved }, 'access log of the saved position is gone (rotated twice while stopped?); its unread lines are lost');
    return undefined;
  }

  private async readPass(): Promise<number> {
    await this.ensureResumed();
    let lines = 0;
    let budget = PASS_BYTES;
    while (budget > 0) {
      this.reading ??= await openLog(this.logPath);
      const reading = this.reading;
      if (!reading) break; // nginx has not written a log yet
      // Look at the log path before draining the file we hold: if nginx had already written to a new
      // file then, it had reopened, so what we drain below is all the old file will ever get.
      const live = await statOrUndefined(this.logPath);
      const rotated = live !== undefined && String(live.ino) !== reading.inode;
      if (!rotated) await restartIfTruncated(reading, this.deps.log);
      const result = await this.consume(reading, budget);
      lines += result.lines;
      budget -= result.bytes;
      if (!rotated || !result.drained || live.size === 0n) break;
      await leaveRotated(reading, this.deps.log);
      this.reading = undefined;
    }
    return lines;
  }

  /**
   * Reads complete lines from `file.offset` and commits them chunk by chunk, each with its new position.
   * While one chunk's commit runs in Redis the next chunk is read and parsed; a chunk is only sent once
   * the one before it is stored, so a failed commit never leaves a later position in Redis.
   */
  private async consume(file: OpenLog, budget: number): Promise<Consumed> {
    const start = file.offset;
    let offset = start;
    let lines = 0;
    let drained = false;
    let inFlight: Promise<void> | undefined;
    const send = (from: number, batch: TrafficBatch, to: number): Promise<void> =>
      this.commit(file, from, to, batch).then(() => {
        file.offset = to;
        lines += this.counted(file, batch);
      });
    try {
      while (offset - start < budget) {
        const chunk = await this.readChunk(file, offset);
        if (!chunk) {
          drained = true;
          break;
        }
        await inFlight;
        inFlight = send(offset, chunk.batch, offset + chunk.bytes);
        inFlight.catch(() => undefined); // intentional: awaited below or before the next send
        offset += chunk.bytes;
      }
    } finally {
      await inFlight;
    }
    return { lines, bytes: file.offset - start, drained };
  }

  /** The complete lines of the chunk at `offset` as a batch, or undefined at the end of what nginx wrote. */
  private async readChunk(file: OpenLog, offset: number): Promise<{ batch: TrafficBatch; bytes: number } | undefined> {
    const { bytesRead } = await file.handle.read(this.buffer, 0, CHUNK_BYTES, offset);
    if (bytesRead === 0) return undefined;
    const batch = new TrafficBatch(this.recordBudget.available());
    const lastNewline = this.buffer.lastIndexOf(NEWLINE, bytesRead - 1);
    if (lastNewline >= 0) {
      // nginx escapes little, so a chunk is mostly plain ASCII: then latin1 gives the same string as
      // UTF-8 decoding at a fraction of its cost (profiled).
      const lines = this.buffer.subarray(0, lastNewline);
      batch.addLines(lines.toString(isAscii(lines) ? 'latin1' : 'utf8'));
      this.recordBudget.spend(batch.records.length);
      return { batch, bytes: lastNewline + 1 };
    }
    if (bytesRead < CHUNK_BYTES) return undefined; // a partial last line: nginx is still writing it, or it will never end
    // No line is this long; consume the chunk so memory stays bounded. The rest of it, up to its
    // newline, then fails to parse and is skipped as well.
    batch.skip(this.buffer.toString('utf8', 0, 200));
    return { batch, bytes: bytesRead };
  }

  /** Counts a committed batch: its served bytes, and a warning for lines not in the dandelion format. */
  private counted(file: OpenLog, batch: TrafficBatch): number {
    this.bytesServed += batch.bytesSent;
    this.serverErrors += batch.serverErrors;
    if (batch.bytesSent > 0) this.deps.onServed?.(batch.bytesSent);
    if (batch.skipped > 0) this.deps.log.warn({ path: file.path, skipped: batch.skipped, sample: batch.skippedSample }, 'access log lines not in the dandelion format skipped');
    return batch.lines;
  }

  /** After a failed pass, Redis may or may not hold its commit: reload the position from there. */
  private async forgetPosition(): Promise<void> {
    this.resumed = false;
    const file = this.reading;
    this.reading = undefined;
    await file?.handle.close();
  }
}
