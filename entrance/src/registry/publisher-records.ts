/**
 * The SEARCH write path: each SEARCH records when and from where a publisher asked, and folds the bytes
 * its own origin served (ORIGIN_BYTES, a running count since ORIGIN_SINCE) into a fleet-wide total, so
 * the offload ratio is what boxes served ÷ everything viewers fetched. A publisher that restarts reports
 * a new ORIGIN_SINCE and its count starts again from zero.
 *
 * SEARCH may come without credentials (REQUIRE_PUBLISHER_AUTH false), so every record written for a
 * publisher is bounded: a publisher silent for PUBLISHER_RECORD_DAYS is dropped, and at most MAX_PUBLISHER_RECORDS are kept (the one seen longest
 * ago dropped first), both for this entrance's records and for the fleet-wide origin counters. A dropped
 * publisher's origin bytes stay in the fleet's total (dandelion:TRAFFIC:ORIGIN:TOTAL), so the offload
 * ratio does not move. The dashboard reads them through dashboard/publishers.ts.
 */
import type { Redis } from 'ioredis';
import { isRecord, parseJsonSafe } from '../../../shared/src/protocol/index.js';
import type { SearchRequest } from '../../../shared/src/protocol/index.js';
import type { EntranceKeys } from '../../../shared/src/redis-keys.js';
import { trafficKeys } from '../../../shared/src/redis-keys.js';
import { defineScripts } from '../../../shared/src/redis-scripts.js';
import { keyLayoutOfClient } from '../../../shared/src/redis.js';
import type { TrafficKeys } from '../../../shared/src/redis-keys.js';

/** Expired entries removed per call; the rest go with the next SEARCH or background pass. */
const PRUNE_BATCH = 100;

/**
 * Lua defining pruneOldest(forget): calls forget(id) for the members of the sorted set `index` scored
 * before `cutoff` (a batch at a time, so one call stays short), then for the oldest beyond `cap`. Both
 * scripts below keep an index by last-seen time this way; `forget` removes what a member stands for.
 */
function pruneOldestLua(index: string, cutoff: string, cap: string): string {
  return `
local function pruneOldest(forget)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', ${index}, '-inf', '(' .. ${cutoff}, 'LIMIT', 0, ${PRUNE_BATCH})) do forget(id) end
  local over = redis.call('ZCARD', ${index}) - tonumber(${cap})
  if over > 0 then
    for _, id in ipairs(redis.call('ZRANGE', ${index}, 0, over - 1)) do forget(id) end
  end
end`;
}

/*
 * This entrance's records. KEYS: publishers hash, publishersSeen. ARGV: publisher ID ('' to only
 * prune), now, JSON {LAST_SEEN, IP}, cutoff (older is expired), cap. Hash fields missing from the
 * index are indexed first (as seen now), so they expire and count toward the cap like the others.
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
${pruneOldestLua('KEYS[2]', 'ARGV[4]', 'ARGV[5]')}
pruneOldest(function(id)
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end)
return 0`;

/*
 * Fleet-wide origin counters. KEYS: origin hash of the publisher, originPublishers, originSeen,
 * originTotal. ARGV: ORIGIN_BYTES ('' to only prune), ORIGIN_SINCE, publisher ID, now, cutoff, cap,
 * origin key prefix. A missing originTotal starts from the per-publisher counters already there.
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
${pruneOldestLua('KEYS[3]', 'ARGV[5]', 'ARGV[6]')}
pruneOldest(function(id)
  redis.call('DEL', ARGV[7] .. id)
  redis.call('SREM', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
end)
return delta`;

interface PublisherScripts {
  dandelionPublisher(hash: string, seen: string, id: string, now: number, json: string, cutoff: number, cap: number): Promise<number>;
  dandelionOrigin(key: string, set: string, seen: string, total: string, args: Array<string | number>): Promise<number>;
}

/** What {ID}:PUBLISHERS holds for one publisher. */
export interface PublisherSeen {
  LAST_SEEN?: number;
  IP?: string;
}

export interface PublisherRecordsDeps {
  redis: Redis;
  keys: EntranceKeys;
  /** PUBLISHER_RECORD_DAYS, in seconds. */
  recordSeconds: number;
  /** MAX_PUBLISHER_RECORDS. */
  maxRecords: number;
  now?: () => number;
}

export class PublisherRecords {
  private readonly redis: Redis & PublisherScripts;
  private readonly traffic: TrafficKeys;
  private readonly now: () => number;

  constructor(private readonly deps: PublisherRecordsDeps) {
    this.traffic = trafficKeys(keyLayoutOfClient(deps.redis));
    this.redis = defineScripts<PublisherScripts>(deps.redis, {
      dandelionPublisher: { numberOfKeys: 2, lua: RECORD_SCRIPT },
      dandelionOrigin: { numberOfKeys: 4, lua: ORIGIN_SCRIPT },
    });
    this.now = deps.now ?? Date.now;
  }

  /** Seconds since the epoch before which a publisher's records are expired. */
  cutoff(): number {
    return this.now() / 1000 - this.deps.recordSeconds;
  }

  async record(msg: SearchRequest): Promise<void> {
    const now = this.now() / 1000;
    const seen: PublisherSeen = { LAST_SEEN: now, IP: msg.IP };
    await this.redis.dandelionPublisher(this.deps.keys.publishers, this.deps.keys.publishersSeen, msg.ID, now, JSON.stringify(seen), this.cutoff(), this.deps.maxRecords);
    if (msg.ORIGIN_BYTES !== undefined && msg.ORIGIN_SINCE !== undefined) {
      await this.origin(msg.ID, [msg.ORIGIN_BYTES, String(msg.ORIGIN_SINCE), msg.ID]);
    }
  }

  /** Drop expired records and counters even when no SEARCH comes (the entrance's background pass). */
  async expire(): Promise<void> {
    await this.redis.dandelionPublisher(this.deps.keys.publishers, this.deps.keys.publishersSeen, '', this.now() / 1000, '', this.cutoff(), this.deps.maxRecords);
    await this.origin('', ['', '', '']);
  }

  /** Start the fleet's origin total from the per-publisher counters, when no report has set it yet. */
  async settleOriginTotal(): Promise<void> {
    await this.origin('', ['', '', '']);
  }

  private origin(id: string, report: [number | string, string, string]): Promise<number> {
    const t = this.traffic;
    return this.redis.dandelionOrigin(t.origin(id), t.originPublishers, t.originSeen, t.originTotal,
      [...report, this.now() / 1000, this.cutoff(), this.deps.maxRecords, t.origin('')]);
  }
}

/** A stored {ID}:PUBLISHERS entry; anything unreadable is an entry with neither field (shown without them). */
export function decodePublisherSeen(text: string | null): PublisherSeen {
  if (text === null) return {};
  let raw: unknown;
  try {
    raw = parseJsonSafe(text);
  } catch {
    return {};
  }
  if (!isRecord(raw)) return {};
  const seen: PublisherSeen = {};
  if (typeof raw.LAST_SEEN === 'number' && Number.isFinite(raw.LAST_SEEN)) seen.LAST_SEEN = raw.LAST_SEEN;
  if (typeof raw.IP === 'string') seen.IP = raw.IP;
  return seen;
}
