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
 * One heartbeat's dashboard write as one script: a MULTI is written to Redis on its own, while a script
 * call joins the other commands of the same tick in one auto-pipelined write (the heartbeat's CPU went
 * into those writes). KEYS: the box's HISTORY, then BOX_SUMMARY when it shares the slot (one Redis; on a
 * cluster the summary's HSET goes beside the script). ARGV: box ID, summary JSON, minute, history point
 * JSON, then — once a minute — the oldest minute to keep and the history's TTL (seconds).
 */
const RECORD_SCRIPT = `
if KEYS[2] then redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], ARGV[3], ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
if ARGV[5] then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[5])
  redis.call('EXPIRE', KEYS[1], ARGV[6])
end
return 1`;

interface SummaryScripts {
  /** `keyCount`: 2 with the summary hash after the history, 1 without it. */
  dandelionRecordSummary(keyCount: number, ...keysThenArgs: Array<string | number>): Promise<number>;
}

export class BoxSummaries {
  private readonly redis: Redis & SummaryScripts;
  /** The minute each box's history was last trimmed in, so trimming costs one command a minute, not one a heartbeat. */
  private readonly lastHistoryMinute = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly deps: BoxSummariesDeps) {
    this.now = deps.now ?? Date.now;
    this.redis = defineScripts<SummaryScripts>(deps.redis, { dandelionRecordSummary: { lua: RECORD_SCRIPT } });
  }

  /** Record an accepted EXCHANGE: the summary every time, the minute's history point replaced by the latest. */
  async record(msg: BoxExchange, publicIp: string | undefined): Promise<void> {
    const now = this.now();
    const summary = summaryOf(msg, publicIp, now);
    // The minute's point is the latest reading in it (the first EXCHANGE of a box has no CPU shares yet).
    const minute = Math.floor(now / 60_000) * 60;
    const summaryJson = JSON.stringify(summary);
    const args: Array<string | number> = [msg.ID, summaryJson, minute, JSON.stringify(historyPointOf(minute, summary, msg))];
    if (this.lastHistoryMinute.get(msg.ID) !== minute) {
      this.lastHistoryMinute.set(msg.ID, minute);
      const keepSeconds = this.deps.historyDays * 86400;
      args.push(minute - keepSeconds, Math.ceil(keepSeconds));
    }
    const { keys } = this.deps;
    if (keys.shards.length === 1) {
      await this.redis.dandelionRecordSummary(2, keys.boxHistory(msg.ID), keys.boxSummary, ...args);
      return;
    }
    await Promise.all([this.redis.hset(keys.boxSummary, msg.ID, summaryJson), this.redis.dandelionRecordSummary(1, keys.boxHistory(msg.ID), ...args)]);
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
