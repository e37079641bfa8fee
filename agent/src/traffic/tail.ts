/**
 * The box's traffic tail: follows nginx's access log (one JSON line per viewer request, LOG_FORMAT) and
 * turns it into the TRAFFIC_FLOW records and per-file aggregates the heartbeat sends to the entrance.
 * Its parts: follower.ts decides when to read, log-reader.ts reads and commits (batch.ts parses a chunk,
 * commit.ts stores it), outbox.ts hands what is stored to the EXCHANGE and drops what was acknowledged.
 *
 * Exactly once: the read position {path, inode, offset} is written in the same atomic commit (commit.ts) as the records and
 * aggregates of the lines before it, so a crash or restart neither re-reads nor loses a line.
 *
 * IMPORTANT, for whoever rotates the log: rotate by rename (logrotate without copytruncate, then USR1 so
 * nginx reopens) and keep `delaycompress`. The tail keeps reading the renamed file until nginx writes to
 * the new one, and after an agent restart finds it again as `<log>.1` by inode. copytruncate loses the
 * lines written between the copy and the truncation; the tail only sees a truncation and starts again
 * at offset 0. The agent itself never deletes or truncates the log.
 */
import type { Redis } from 'ioredis';
import type { BoxKeys } from '../../../shared/src/redis-keys.js';
import type { Logger } from '../../../shared/src/log.js';
import { LogFollower } from './follower.js';
import { LogReader } from './log-reader.js';
import { TrafficOutbox } from './outbox.js';
import type { CollectedTraffic } from './outbox.js';

export interface TrafficTailDeps {
  redis: Redis;
  keys: BoxKeys;
  boxId: string;
  /** The access log nginx writes. */
  logPath: string;
  /** Per-line TRAFFIC_FLOW hashes expire after this (the caller passes 2 × heartbeat period). */
  recordTtlSeconds: number;
  /** The caller binds the module name (`log.child({ mod: 'traffic' })`). */
  log: Logger;
  /** Fallback poll period in ms (default 1000); file events trigger passes sooner. */
  pollMs?: number;
  /** Told the $bytes_sent of the lines each pass commits, once each. */
  onServed?(bytes: number): void;
  /** Told of a read pass that failed (it is retried; the agent counts it in AGENT-ERRORS). */
  onPassFailed?(err: unknown): void;
}

export interface TrafficTail {
  /** Resume from the persisted position, read what is new, then watch the log and poll as a fallback. */
  start(): Promise<void>;
  /** Stop watching and timers, wait for an in-flight pass, read what is new once more, close the log. */
  stop(): Promise<void>;
  /** One read pass now; resolves with the number of complete lines consumed. */
  pass(): Promise<number>;
  /**
   * For the next EXCHANGE: up to maxRecords per-line records as { '<boxId>:TRAFFIC_FLOW:log-<rid>': record }
   * (in no particular order), plus up to MAX_AGGREGATES_PER_EXCHANGE pending aggregates, oldest first.
   */
  collect(maxRecords: number): Promise<CollectedTraffic>;
  /** An entrance accepted an EXCHANGE carrying these aggregates: drop them from pending. */
  acknowledge(aggregateIds: string[]): Promise<void>;
  /** $bytes_sent (all statuses) consumed so far by this process; the heartbeat uses its deltas. */
  bytesServedTotal(): number;
  /** Lines with a status ≥ 500 consumed so far by this process (SERVE-ERRORS). */
  serverErrorsTotal(): number;
  /** Bytes in the log not yet consumed (for metrics). */
  lagBytes(): Promise<number>;
}

export function createTrafficTail(deps: TrafficTailDeps): TrafficTail {
  const reader = new LogReader(deps);
  const follower = new LogFollower({
    logPath: deps.logPath, pollMs: deps.pollMs ?? 1000, log: deps.log,
    pass: () => reader.pass().catch((err: unknown) => {
      deps.onPassFailed?.(err);
      throw err;
    }),
  });
  const outbox = new TrafficOutbox(deps);
  return {
    start: () => follower.start(),
    async stop() {
      await follower.stop();
      // What nginx wrote since the last pass (its buffer is flushed when it stops): counted by this run.
      // Redis gone at shutdown is no loss: the next start resumes from the committed position.
      await reader.pass().catch((err: unknown) => deps.log.warn({ err }, 'last read of the access log failed; the next start reads it'));
      await reader.close();
    },
    pass: () => reader.pass(),
    collect: (maxRecords) => outbox.collect(maxRecords),
    acknowledge: (ids) => outbox.acknowledge(ids),
    bytesServedTotal: () => reader.bytesServed,
    serverErrorsTotal: () => reader.serverErrors,
    lagBytes: () => reader.lagBytes(),
  };
}
