/**
 * Folds the TRAFFIC_AGGREGATES of an accepted EXCHANGE into the fleet-wide traffic counters in Redis
 * (keys from `trafficKeys()`): per minute, hour and day for the fleet, the box and the publisher, all-time
 * totals, and the box ↔ publisher breakdowns.
 *
 * Exactly once: a box resends its pending aggregates, with the same IDs, to every entrance it knows until
 * one of them accepts; a reply can be lost after the fold. So each aggregate first sets a marker
 * `SEEN:<box>:<aggregate ID>` with SET NX, and only the call that created the marker adds to the counters.
 * The whole batch is one Lua script, so two entrances folding the same aggregates at once, or an entrance
 * dying halfway, can neither count twice nor leave half an aggregate counted.
 *
 * The marker must outlive every redelivery it guards against, and a box may hold aggregates for as long
 * as it is offline. So an aggregate is counted only within TRAFFIC_DEDUPE_DAYS of its FROM (and while its
 * day bucket is kept), and its marker lives a margin longer than that (both computed from the aggregate's
 * own FROM, which is the same on every delivery): an aggregate redelivered after its marker expired is
 * always too old to count. Older aggregates are accepted (so the box drops them) but not counted, and
 * logged. The window bounds the markers' memory: one marker per aggregate, kept that long.
 *
 * TRAFFIC_FLOW records are not counted here: the box resends them by design; they are informational.
 */
import type { Redis } from 'ioredis';
import type { EntranceConfig } from '../../../shared/src/config/schemas.js';
import type { Logger } from '../../../shared/src/log.js';
import type { TrafficAggregate } from '../../../shared/src/protocol/index.js';
import { trafficKeys } from '../../../shared/src/redis-keys.js';
import { integers } from '../../../shared/src/redis-replies.js';
import { defineScripts } from '../../../shared/src/redis-scripts.js';
import type { TrafficKeys, TrafficResolution } from '../../../shared/src/redis-keys.js';

export const TRAFFIC_RESOLUTIONS: readonly TrafficResolution[] = ['minute', 'hour', 'day'];
export const BUCKET_SECONDS: Readonly<Record<TrafficResolution, number>> = { minute: 60, hour: 3_600, day: 86_400 };
const DAY_MS = 86_400_000;
/**
 * How much longer a dedupe marker lives than the window in which its aggregate is counted. It covers
 * clocks of entrances sharing one Redis that disagree (by less than this).
 */
const MARKER_MARGIN_MS = DAY_MS;
/** An aggregate whose FROM is further ahead of the entrance's clock than this comes from a box with a wrong clock. */
const FUTURE_TOLERANCE_MS = DAY_MS;

/** The start (seconds since the epoch, UTC) of the bucket holding time `seconds`. Unix time has no leap seconds, so days start at UTC midnight. */
export function bucketStart(seconds: number, resolution: TrafficResolution): number {
  const step = BUCKET_SECONDS[resolution];
  return Math.floor(seconds / step) * step;
}

/*
 * KEYS and ARGV hold one group per aggregate, in order:
 *   KEYS: its marker, then its counter hashes ({bytes, requests}), then its breakdown hashes;
 *   ARGV[1] is the number of aggregates, then per aggregate: marker TTL (ms), BYTES, REQUESTS, the number
 *   of counter hashes, the number of breakdown hashes, one TTL per counter hash (ms, 0: never expires)
 *   and one field per breakdown hash (incremented by BYTES).
 * The first pass only reads: a key of the wrong type (something else wrote there) fails the whole batch
 * before any write, because a Lua script that errors keeps the writes it already made. Then the box gets
 * E_INTERNAL and resends, and nothing was half counted.
 */
const FOLD_SCRIPT = `
local function walk(visit)
  local k, a = 1, 2
  for _ = 1, tonumber(ARGV[1]) do
    local nCounters, nFields = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
    local stop = visit(k, a, nCounters, nFields)
    if stop then return stop end
    k = k + 1 + nCounters + nFields
    a = a + 5 + nCounters + nFields
  end
end

local bad = walk(function(k, _, nCounters, nFields)
  local t = redis.call('TYPE', KEYS[k]).ok
  if t ~= 'none' and t ~= 'string' then return KEYS[k] end
  for i = k + 1, k + nCounters + nFields do
    t = redis.call('TYPE', KEYS[i]).ok
    if t ~= 'none' and t ~= 'hash' then return KEYS[i] end
  end
end)
if bad then return redis.error_reply('WRONGTYPE traffic key ' .. bad .. ' holds the wrong kind of value') end

local counted, duplicates = 0, 0
walk(function(k, a, nCounters, nFields)
  if not redis.call('SET', KEYS[k], '1', 'NX', 'PX', ARGV[a]) then
    duplicates = duplicates + 1
    return
  end
  counted = counted + 1
  local bytes, requests = ARGV[a + 1], ARGV[a + 2]
  for i = 1, nCounters do
    local key, ttl = KEYS[k + i], tonumber(ARGV[a + 4 + i])
    redis.call('HINCRBY', key, 'bytes', bytes)
    redis.call('HINCRBY', key, 'requests', requests)
    if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
  end
  for i = 1, nFields do
    redis.call('HINCRBY', KEYS[k + nCounters + i], ARGV[a + 4 + nCounters + i], bytes)
  end
end)
return {counted, duplicates}`;

interface FoldScripts {
  /** Replies [counted, duplicates]. */
  dandelionTrafficFold(numKeys: number, ...keysThenArgs: Array<string | number>): Promise<unknown>;
}

export interface FoldResult {
  /** Aggregates counted now. */
  counted: number;
  /** Aggregates counted before (redelivered, or repeated in this batch). */
  duplicates: number;
  /** Aggregates too old to count exactly once (their day bucket is past TRAFFIC_DAY_DAYS). */
  stale: number;
  /** Aggregates from more than a day ahead of this entrance's clock. */
  future: number;
}

export interface TrafficFolder {
  /** Count `aggregates` of box `boxId` once each; throws when Redis fails, and then nothing was counted. */
  fold(boxId: string, aggregates: readonly TrafficAggregate[]): Promise<FoldResult>;
}

export interface TrafficFolderDeps {
  redis: Redis;
  config: Pick<EntranceConfig, 'TRAFFIC_MINUTE_DAYS' | 'TRAFFIC_HOUR_DAYS' | 'TRAFFIC_DAY_DAYS' | 'TRAFFIC_DEDUPE_DAYS'>;
  log: Logger;
  now?: () => number;
}

export function createTrafficFolder(deps: TrafficFolderDeps): TrafficFolder {
  const redis = defineScripts<FoldScripts>(deps.redis, { dandelionTrafficFold: { lua: FOLD_SCRIPT } });
  const { log } = deps;
  const now = deps.now ?? Date.now;
  const keys = trafficKeys();
  const retentionMs: Readonly<Record<TrafficResolution, number>> = {
    minute: deps.config.TRAFFIC_MINUTE_DAYS * DAY_MS,
    hour: deps.config.TRAFFIC_HOUR_DAYS * DAY_MS,
    day: deps.config.TRAFFIC_DAY_DAYS * DAY_MS,
  };

  return {
    async fold(boxId, aggregates) {
      const result: FoldResult = { counted: 0, duplicates: 0, stale: 0, future: 0 };
      const nowMs = now();
      const keyList: string[] = [];
      const args: Array<string | number> = [];
      let planned = 0;
      for (const agg of aggregates) {
        const plan = planAggregate(keys, boxId, agg, nowMs, retentionMs, deps.config.TRAFFIC_DEDUPE_DAYS * DAY_MS);
        if (plan === 'stale' || plan === 'future') {
          result[plan] += 1;
          continue;
        }
        planned += 1;
        keyList.push(plan.marker, ...plan.counters.map(([key]) => key), ...plan.fields.map(([key]) => key));
        args.push(plan.markerTtlMs, agg.BYTES, agg.REQUESTS, plan.counters.length, plan.fields.length);
        args.push(...plan.counters.map(([, ttl]) => ttl), ...plan.fields.map(([, field]) => field));
      }
      if (planned > 0) {
        const [counted = 0, duplicates = 0] = integers(await redis.dandelionTrafficFold(keyList.length, ...keyList, planned, ...args));
        result.counted = counted;
        result.duplicates = duplicates;
      }
      if (result.stale > 0 || result.future > 0) {
        log.warn({ box: boxId, stale: result.stale, future: result.future }, 'traffic aggregates accepted but not counted: their time is outside the kept window (box clock wrong, or box offline too long)');
      }
      if (aggregates.length > 0) log.debug({ box: boxId, ...result }, 'traffic folded');
      return result;
    },
  };
}

interface AggregatePlan {
  marker: string;
  markerTtlMs: number;
  /** Counter hash → TTL in ms (0: kept for ever). */
  counters: Array<[string, number]>;
  /** Breakdown hash → field incremented by BYTES. */
  fields: Array<[string, string]>;
}

/**
 * Every key one aggregate adds to. TTLs are relative to the entrance's clock but aim at a fixed point
 * (the bucket's end plus its retention), so re-setting them on every increment keeps the same deadline.
 * A bucket already past its retention is left out, so a late aggregate cannot bring an expired one back.
 */
function planAggregate(
  keys: TrafficKeys,
  boxId: string,
  agg: TrafficAggregate,
  nowMs: number,
  retentionMs: Readonly<Record<TrafficResolution, number>>,
  dedupeMs: number,
): AggregatePlan | 'stale' | 'future' {
  const fromMs = agg.FROM * 1000;
  if (fromMs > nowMs + FUTURE_TOLERANCE_MS) return 'future';
  const keepUntil = (resolution: TrafficResolution): number =>
    (bucketStart(agg.FROM, resolution) + BUCKET_SECONDS[resolution]) * 1000 + retentionMs[resolution];
  const countableUntil = Math.min(keepUntil('day'), fromMs + dedupeMs);
  if (countableUntil <= nowMs) return 'stale';

  const publisher = agg.PUBLISHER;
  const counters: Array<[string, number]> = [];
  for (const resolution of TRAFFIC_RESOLUTIONS) {
    const ttl = Math.ceil(keepUntil(resolution) - nowMs);
    if (ttl <= 0) continue;
    const t = bucketStart(agg.FROM, resolution);
    counters.push([keys.fleetBucket(resolution, t), ttl], [keys.boxBucket(boxId, resolution, t), ttl]);
    if (publisher !== '') counters.push([keys.publisherBucket(publisher, resolution, t), ttl]);
  }
  counters.push([keys.fleetTotal, 0], [keys.boxTotal(boxId), 0]);
  if (publisher !== '') counters.push([keys.publisherTotal(publisher), 0]);

  const publisherField = publisher === '' ? keys.noPublisher : publisher;
  const fields: Array<[string, string]> = [
    [keys.fleetBoxes, boxId],
    [keys.fleetPublishers, publisherField],
    [keys.boxPublishers(boxId), publisherField],
  ];
  if (publisher !== '') fields.push([keys.publisherBoxes(publisher), boxId]);

  return {
    marker: keys.seen(boxId, agg.ID),
    markerTtlMs: Math.ceil(countableUntil + MARKER_MARGIN_MS - nowMs),
    counters,
    fields,
  };
}
