/**
 * Publishers as the entrance knows them: each SEARCH records when and from where a publisher asked,
 * and folds the bytes its own origin served (ORIGIN_BYTES, a running count since ORIGIN_SINCE) into a
 * fleet-wide total, so the offload ratio is what boxes served ÷ everything viewers fetched. A
 * publisher that restarts reports a new ORIGIN_SINCE and its count starts again from zero.
 *
 * SEARCH needs no credentials, so every record written for a publisher is bounded: a publisher silent
 * for PUBLISHER_RECORD_DAYS is dropped, and at most MAX_PUBLISHER_RECORDS are kept (the one seen longest
 * ago dropped first), both for this entrance's records and for the fleet-wide origin counters. A dropped
 * publisher's origin bytes stay in the fleet's total (dandelion:TRAFFIC:ORIGIN:TOTAL), so the offload
 * ratio does not move. The dashboard reads the newest page from the sorted indexes, never everything.
 */
import type { Redis } from 'ioredis';
import { isIdOf } from '../../../shared/src/protocol/index.js';
import type { SearchRequest } from '../../../shared/src/protocol/index.js';
import type { EntranceKeys } from '../../../shared/src/redis-keys.js';
import { trafficKeys } from '../../../shared/src/redis-keys.js';
import { byBytes } from '../traffic/read.js';

/** Publishers /api/publishers lists when it is not told how many, and the most it lists at once. */
export const PUBLISHERS_PAGE = 100;
export const MAX_PUBLISHERS_PAGE = 500;
/** Expired entries removed per call; the rest go with the next SEARCH or background pass. */
const PRUNE_BATCH = 100;

/*
 * This entrance's records. KEYS: publishers hash, publishersSeen. ARGV: publisher ID ('' to only
 * prune), now, JSON {LAST_SEEN, IP}, cutoff (older is expired), cap. Fields written before the index
 * existed are indexed first (as seen now), so they expire and count toward the cap like the others.
 */
const RECORD_SCRIPT = `
if ARGV[1] ~= '' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
end
if redis.call('HLEN', KEYS[1]) > redis.call('ZCARD', KEYS[2]) then
  local adopted = tonumber(ARGV[2]) - 0.001 -- just before the publisher searching now, which must survive the cap
  for _, id in ipairs(redis.call('HKEYS', KEYS[1])) do redis.call('ZADD', KEYS[2], 'NX', adopted, id) end
end
local function drop(ids)
  for _, id in ipairs(ids) do
    redis.call('HDEL', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
  end
end
drop(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[4], 'LIMIT', 0, ${PRUNE_BATCH}))
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[5])
if over > 0 then drop(redis.call('ZRANGE', KEYS[2], 0, over - 1)) end
return 0`;

/*
 * Fleet-wide origin counters. KEYS: origin hash of the publisher, originPublishers, originSeen,
 * originTotal. ARGV: ORIGIN_BYTES ('' to only prune), ORIGIN_SINCE, publisher ID, now, cutoff, cap,
 * origin key prefix. The first run after an upgrade starts originTotal from the counters already there.
 */
const ORIGIN_SCRIPT = `
if redis.call('HEXISTS', KEYS[4], 'total') == 0 then
  local sum = 0
  local ids = redis.call('SMEMBERS', KEYS[2])
  for _, id in ipairs(ids) do
    sum = sum + tonumber(redis.call('HGET', ARGV[7] .. id, 'total') or '0')
    redis.call('ZADD', KEYS[3], 'NX', tonumber(ARGV[4]) - 0.001, id)
  end
  if #ids > 0 then redis.call('HSET', KEYS[4], 'total', string.format('%.0f', sum)) end
end
local delta = 0
if ARGV[1] ~= '' then
  local since = redis.call('HGET', KEYS[1], 'since')
  local reported = tonumber(redis.call('HGET', KEYS[1], 'reported') or '0')
  local now = tonumber(ARGV[1])
  delta = now
  if since == ARGV[2] then delta = now - reported end
  if delta < 0 then delta = 0 end
  if since ~= ARGV[2] or now > reported then redis.call('HSET', KEYS[1], 'since', ARGV[2], 'reported', now) end
  redis.call('HINCRBY', KEYS[1], 'total', delta)
  redis.call('HINCRBY', KEYS[4], 'total', delta)
  redis.call('SADD', KEYS[2], ARGV[3])
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3])
end
local function retire(ids)
  for _, id in ipairs(ids) do
    redis.call('DEL', ARGV[7] .. id)
    redis.call('SREM', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
  end
end
retire(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[5], 'LIMIT', 0, ${PRUNE_BATCH}))
local over = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[6])
if over > 0 then retire(redis.call('ZRANGE', KEYS[3], 0, over - 1)) end
return delta`;

interface PublisherScripts {
  dandelionPublisher(hash: string, seen: string, id: string, now: number, json: string, cutoff: number, cap: number): Promise<number>;
  dandelionOrigin(key: string, set: string, seen: string, total: string, args: Array<string | number>): Promise<number>;
}

export interface PublisherRow {
  ID: string;
  LAST_SEEN: number | null;
  IP: string | null;
  ORIGIN_BYTES: number;
  BOX_BYTES: number;
  OFFLOAD: number | null;
  BOXES: Array<{ box: string; bytes: number }>;
}

export interface PublishersOptions {
  redis: Redis;
  keys: EntranceKeys;
  /** PUBLISHER_RECORD_DAYS, in seconds. */
  recordSeconds: number;
  /** MAX_PUBLISHER_RECORDS. */
  maxRecords: number;
  now?: () => number;
}

export function offloadRatio(boxBytes: number, originBytes: number): number | null {
  return boxBytes + originBytes > 0 ? boxBytes / (boxBytes + originBytes) : null;
}

export class Publishers {
  private readonly redis: Redis & PublisherScripts;
  private readonly keys: EntranceKeys;
  private readonly traffic = trafficKeys();
  private readonly now: () => number;

  constructor(private readonly opts: PublishersOptions) {
    if (!('dandelionOrigin' in opts.redis)) {
      opts.redis.defineCommand('dandelionPublisher', { numberOfKeys: 2, lua: RECORD_SCRIPT });
      opts.redis.defineCommand('dandelionOrigin', { numberOfKeys: 4, lua: ORIGIN_SCRIPT });
    }
    this.redis = opts.redis as Redis & PublisherScripts;
    this.keys = opts.keys;
    this.now = opts.now ?? Date.now;
  }

  private cutoff(): number {
    return this.now() / 1000 - this.opts.recordSeconds;
  }

  async record(msg: SearchRequest): Promise<void> {
    const now = this.now() / 1000;
    const cutoff = this.cutoff();
    await this.redis.dandelionPublisher(this.keys.publishers, this.keys.publishersSeen, msg.ID, now, JSON.stringify({ LAST_SEEN: now, IP: msg.IP }), cutoff, this.opts.maxRecords);
    if (msg.ORIGIN_BYTES !== undefined && msg.ORIGIN_SINCE !== undefined) {
      await this.origin(msg.ID, [msg.ORIGIN_BYTES, String(msg.ORIGIN_SINCE), msg.ID]);
    }
  }

  /** Drop expired records and counters even when no SEARCH comes (the entrance's background pass). */
  async expire(): Promise<void> {
    await this.redis.dandelionPublisher(this.keys.publishers, this.keys.publishersSeen, '', this.now() / 1000, '', this.cutoff(), this.opts.maxRecords);
    await this.origin('', ['', '', '']);
  }

  private origin(id: string, report: [number | string, string, string]): Promise<number> {
    const t = this.traffic;
    return this.redis.dandelionOrigin(t.origin(id), t.originPublishers, t.originSeen, t.originTotal,
      [...report, this.now() / 1000, this.cutoff(), this.opts.maxRecords, t.origin('')]);
  }

  /** Origin bytes of one publisher (while its counter is kept), or of every publisher ever (the fleet total). */
  async originBytes(publisherId?: string): Promise<number> {
    if (publisherId !== undefined) return Number((await this.redis.hget(this.traffic.origin(publisherId), 'total')) ?? 0);
    const total = await this.redis.hget(this.traffic.originTotal, 'total');
    if (total !== null) return Number(total);
    await this.origin('', ['', '', '']); // no report since the upgrade: start the total from the counters
    return Number((await this.redis.hget(this.traffic.originTotal, 'total')) ?? 0);
  }

  /** Publishers seen here within PUBLISHER_RECORD_DAYS. */
  async count(): Promise<number> {
    return this.redis.zcount(this.keys.publishersSeen, `(${this.cutoff()}`, '+inf');
  }

  /**
   * The `limit` publishers heard from most recently (here, or through their origin reports at any
   * entrance), newest first. Two round trips whatever the number of publishers: the newest IDs from both
   * indexes, then four reads per listed publisher in one pipeline.
   */
  async list(limit = PUBLISHERS_PAGE): Promise<PublisherRow[]> {
    const min = `(${this.cutoff()}`;
    const newest = await this.redis.pipeline()
      .zrevrangebyscore(this.keys.publishersSeen, '+inf', min, 'WITHSCORES', 'LIMIT', 0, limit)
      .zrevrangebyscore(this.traffic.originSeen, '+inf', min, 'WITHSCORES', 'LIMIT', 0, limit)
      .exec();
    const lastHeard = new Map<string, number>();
    for (const [err, flat] of newest ?? []) {
      if (err) throw err;
      const pairs = flat as string[];
      for (let i = 0; i + 1 < pairs.length; i += 2) {
        const id = pairs[i] as string;
        if (isIdOf(id, 'PUBLISHER')) lastHeard.set(id, Math.max(lastHeard.get(id) ?? 0, Number(pairs[i + 1])));
      }
    }
    const ids = [...lastHeard].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, limit).map(([id]) => id);
    if (ids.length === 0) return [];
    const pipe = this.redis.pipeline();
    for (const id of ids) {
      pipe.hget(this.keys.publishers, id).hget(this.traffic.origin(id), 'total')
        .hgetall(this.traffic.publisherBoxes(id)).hget(this.traffic.publisherTotal(id), 'bytes');
    }
    const replies = (await pipe.exec()) ?? [];
    for (const [err] of replies) if (err) throw err;
    return ids.map((id, n) => {
      const [seen, origin, boxes, boxBytes] = replies.slice(4 * n, 4 * n + 4).map(([, v]) => v) as [string | null, string | null, Record<string, string>, string | null];
      let info: { LAST_SEEN?: number; IP?: string } = {};
      try {
        info = JSON.parse(seen ?? '{}') as typeof info;
      } catch {
        /* intentional: shown without LAST_SEEN */
      }
      const originBytes = Number(origin ?? 0);
      const boxTotal = Number(boxBytes ?? 0);
      return {
        ID: id, LAST_SEEN: info.LAST_SEEN ?? null, IP: info.IP ?? null, ORIGIN_BYTES: originBytes, BOX_BYTES: boxTotal,
        OFFLOAD: offloadRatio(boxTotal, originBytes), BOXES: byBytes(boxes).map(([box, bytes]) => ({ box, bytes })),
      };
    });
  }
}
