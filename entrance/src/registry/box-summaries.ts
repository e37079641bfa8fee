/**
 * The heartbeat's write path for the dashboard: every accepted EXCHANGE writes its box's summary into
 * {ID}:BOX_SUMMARY (kept after the box goes offline, so the dashboard can say "offline since") and the
 * current minute's history point into {ID}:HISTORY:<box>. Boxes offline for longer than
 * BOX_HISTORY_DAYS are forgotten by `prune`, which the background pass calls.
 */
import type { Redis } from 'ioredis';
import type { BoxExchange } from '../../../shared/src/protocol/index.js';
import type { EntranceKeys } from '../../../shared/src/redis-keys.js';
import { defineScripts } from '../../../shared/src/redis-scripts.js';
import { decodeBoxSummary, historyPointOf, summaryOf } from './box-summary.js';

export interface BoxSummariesDeps {
  redis: Redis;
  keys: EntranceKeys;
  /** BOX_HISTORY_DAYS. */
  historyDays: number;
  now?: () => number;
}

/**
 * One heartbeat's history write as one script: a MULTI is written to Redis on its own, while a script
 * call joins the other commands of the same tick in one auto-pipelined write (the heartbeat's CPU went
 * into those writes). The summary's HSET goes beside it, not inside: on a Redis Cluster BOX_SUMMARY and
 * the box's HISTORY are in different slots. KEYS: the box's HISTORY. ARGV: minute, history point JSON,
 * then — once a minute — the oldest minute to keep and the history's TTL (seconds).
 */
const RECORD_SCRIPT = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
  redis.call('EXPIRE', KEYS[1], ARGV[4])
end
return 1`;

interface SummaryScripts {
  dandelionRecordHistory(history: string, ...args: Array<string | number>): Promise<number>;
}

export class BoxSummaries {
  private readonly redis: Redis & SummaryScripts;
  /** The minute each box's history was last trimmed in, so trimming costs one command a minute, not one a heartbeat. */
  private readonly lastHistoryMinute = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly deps: BoxSummariesDeps) {
    this.now = deps.now ?? Date.now;
    this.redis = defineScripts<SummaryScripts>(deps.redis, { dandelionRecordHistory: { numberOfKeys: 1, lua: RECORD_SCRIPT } });
  }

  /** Record an accepted EXCHANGE: the summary every time, the minute's history point replaced by the latest. */
  async record(msg: BoxExchange, publicIp: string | undefined): Promise<void> {
    const now = this.now();
    const summary = summaryOf(msg, publicIp, now);
    // The minute's point is the latest reading in it (the first EXCHANGE of a box has no CPU shares yet).
    const minute = Math.floor(now / 60_000) * 60;
    const args: Array<string | number> = [minute, JSON.stringify(historyPointOf(minute, summary, msg))];
    if (this.lastHistoryMinute.get(msg.ID) !== minute) {
      this.lastHistoryMinute.set(msg.ID, minute);
      const keepSeconds = this.deps.historyDays * 86400;
      args.push(minute - keepSeconds, Math.ceil(keepSeconds));
    }
    await Promise.all([
      this.redis.hset(this.deps.keys.boxSummary, msg.ID, JSON.stringify(summary)),
      this.redis.dandelionRecordHistory(this.deps.keys.boxHistory(msg.ID), ...args),
    ]);
  }

  /** Forget boxes offline for longer than BOX_HISTORY_DAYS; returns how many. */
  async prune(): Promise<number> {
    const limit = this.now() / 1000 - this.deps.historyDays * 86400;
    const all = await this.deps.redis.hgetall(this.deps.keys.boxSummary);
    const gone: string[] = [];
    for (const [id, text] of Object.entries(all)) {
      const summary = decodeBoxSummary(text);
      if (summary !== undefined && summary.LAST_SEEN < limit) gone.push(id);
    }
    if (gone.length > 0) await this.deps.redis.hdel(this.deps.keys.boxSummary, ...gone);
    for (const id of gone) this.lastHistoryMinute.delete(id);
    return gone.length;
  }
}
