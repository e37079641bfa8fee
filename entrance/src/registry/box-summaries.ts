/**
 * The heartbeat's write path for the dashboard: every accepted EXCHANGE writes its box's summary into
 * {ID}:BOX_SUMMARY (kept after the box goes offline, so the dashboard can say "offline since") and the
 * current minute's history point into {ID}:HISTORY:<box>. Boxes offline for longer than
 * BOX_HISTORY_DAYS are forgotten by `prune`, which the background pass calls.
 */
import type { Redis } from 'ioredis';
import type { BoxExchange } from '../../../shared/src/protocol/index.js';
import type { EntranceKeys } from '../../../shared/src/redis-keys.js';
import { decodeBoxSummary, historyPointOf, summaryOf } from './box-summary.js';

export interface BoxSummariesDeps {
  redis: Redis;
  keys: EntranceKeys;
  /** BOX_HISTORY_DAYS. */
  historyDays: number;
  now?: () => number;
}

export class BoxSummaries {
  /** The minute each box's history was last trimmed in, so trimming costs one command a minute, not one a heartbeat. */
  private readonly lastHistoryMinute = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly deps: BoxSummariesDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Record an accepted EXCHANGE: the summary every time, the minute's history point replaced by the latest. */
  async record(msg: BoxExchange, publicIp: string | undefined): Promise<void> {
    const now = this.now();
    const summary = summaryOf(msg, publicIp, now);
    const tx = this.deps.redis.multi().hset(this.deps.keys.boxSummary, msg.ID, JSON.stringify(summary));
    // The minute's point is the latest reading in it (the first EXCHANGE of a box has no CPU shares yet).
    const minute = Math.floor(now / 60_000) * 60;
    const key = this.deps.keys.boxHistory(msg.ID);
    tx.zremrangebyscore(key, minute, minute).zadd(key, minute, JSON.stringify(historyPointOf(minute, summary, msg)));
    if (this.lastHistoryMinute.get(msg.ID) !== minute) {
      this.lastHistoryMinute.set(msg.ID, minute);
      const keepSeconds = this.deps.historyDays * 86400;
      tx.zremrangebyscore(key, '-inf', minute - keepSeconds).expire(key, Math.ceil(keepSeconds));
    }
    await tx.exec();
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
