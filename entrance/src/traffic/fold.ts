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
 * Believed only as far as it can be (a box's owner has root on it): an aggregate counts only up to what
 * the box's measured upload could carry over its window, less what the box already had counted in that
 * window (plausible.ts); the rest is added to the box's implausible bytes. And only for a publisher the
 * entrance knows (known-publishers.ts): an aggregate for any other is not counted at all (a made-up ID
 * must create no keys), only tallied per box as a warning sign, with no marker (so a flood of them
 * creates nothing per aggregate). Aggregates that name no publisher count as before.
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
import type { KnownPublisherCheck } from './known-publishers.js';
import { MAX_WINDOW_BUCKETS, allowanceBytes } from './plausible.js';
import { keyLayoutOfClient } from '../../../shared/src/redis.js';
import { awaitReplica } from '../../../shared/src/redis-replica-wait.js';

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
 * KEYS[1] is the fleet's implausible hash, KEYS[2] its unknown-publisher hash; ARGV[1] is the number of
 * aggregates, ARGV[2] the box ID (the field in both). Then KEYS and ARGV hold one group per aggregate:
 *   KEYS: its marker, its counter hashes ({bytes, requests}), its breakdown hashes, then the box's
 *   buckets of its capacity window (which may repeat counter hashes);
 *   ARGV: marker TTL (ms), kind ('count' or 'unknown': a publisher the entrance does not know), BYTES,
 *   REQUESTS, the window's allowance (bytes), the numbers of counter hashes, breakdown hashes and window
 *   buckets, one TTL per counter hash (ms, 0: never expires) and one field per breakdown hash.
 * The first pass only reads: a key of the wrong type (something else wrote there) fails the whole batch
 * before any write, because a Lua script that errors keeps the writes it already made. Then the box gets
 * E_INTERNAL and resends, and nothing was half counted. Numbers stay below 2^53 (BYTES is a safe integer,
 * counted bytes are bounded by the allowance, the tallies saturate), so Lua's doubles hold them exactly.
 */
const FOLD_SCRIPT = `
local SATURATED = 9007199254740991
local function walk(visit)
  local k, a = 3, 3
  for _ = 1, tonumber(ARGV[1]) do
    local nCounters, nFields, nWindow = tonumber(ARGV[a + 5]), tonumber(ARGV[a + 6]), tonumber(ARGV[a + 7])
    local stop = visit(k, a, nCounters, nFields, nWindow)
    if stop then return stop end
    k = k + 1 + nCounters + nFields + nWindow
    a = a + 8 + nCounters + nFields
  end
end

local function isHashOrNone(key)
  local t = redis.call('TYPE', key).ok
  return t == 'none' or t == 'hash'
end
local bad = (not isHashOrNone(KEYS[1]) and KEYS[1]) or (not isHashOrNone(KEYS[2]) and KEYS[2]) or walk(function(k, _, nCounters, nFields, nWindow)
  local t = redis.call('TYPE', KEYS[k]).ok
  if t ~= 'none' and t ~= 'string' then return KEYS[k] end
  for i = k + 1, k + nCounters + nFields + nWindow do
    if not isHashOrNone(KEYS[i]) then return KEYS[i] end
  end
end)
if bad then return redis.error_reply('WRONGTYPE traffic key ' .. bad .. ' holds the wrong kind of value') end

local function tally(key, n)
  if n <= 0 then return end
  local sum = math.min(tonumber(redis.call('HGET', key, ARGV[2]) or '0') + n, SATURATED)
  redis.call('HSET', key, ARGV[2], string.format('%.0f', sum))
end

local counted, duplicates, implausible, unknown = 0, 0, 0, 0
walk(function(k, a, nCounters, nFields, nWindow)
  local bytes, requests = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  if ARGV[a + 1] == 'unknown' then
    unknown = unknown + 1
    tally(KEYS[2], bytes)
    return
  end
  if not redis.call('SET', KEYS[k], '1', 'NX', 'PX', ARGV[a]) then
    duplicates = duplicates + 1
    return
  end
  local used = 0
  for i = k + 1 + nCounters + nFields, k + nCounters + nFields + nWindow do
    used = used + tonumber(redis.call('HGET', KEYS[i], 'bytes') or '0')
  end
  local countedBytes = math.max(0, math.min(bytes, tonumber(ARGV[a + 4]) - used))
  if countedBytes < bytes then
    implausible = implausible + 1
    tally(KEYS[1], bytes - countedBytes)
    requests = math.floor(requests * countedBytes / bytes)
  else
    counted = counted + 1
  end
  -- Every request sends at least a byte (its headers): more requests than bytes are not believed either.
  requests = math.min(requests, countedBytes)
  if countedBytes == 0 then return end
  local b, r = string.format('%.0f', countedBytes), string.format('%.0f', requests)
  for i = 1, nCounters do
    local key, ttl = KEYS[k + i], tonumber(ARGV[a + 7 + i])
    redis.call('HINCRBY', key, 'bytes', b)
    redis.call('HINCRBY', key, 'requests', r)
    if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
  end
  for i = 1, nFields do
    redis.call('HINCRBY', KEYS[k + nCounters + i], ARGV[a + 7 + nCounters + i], b)
  end
end)
return {counted, duplicates, implausible, unknown}`;

interface FoldScripts {
  /** Replies [counted, duplicates, implausible, unknown]. */
  dandelionTrafficFold(numKeys: number, ...keysThenArgs: Array<string | number>): Promise<unknown>;
}

export interface FoldResult {
  /** Aggregates counted now, in full. */
  counted: number;
  /** Aggregates counted now only in part (or not at all): beyond what the box's upload could carry. */
  implausible: number;
  /** Aggregates for a publisher the entrance does not know: not counted. */
  unknownPublisher: number;
  /** Aggregates counted before (redelivered, or repeated in this batch). */
  duplicates: number;
  /** Aggregates too old to count exactly once (their day bucket is past TRAFFIC_DAY_DAYS). */
  stale: number;
  /** Aggregates from more than a day ahead of this entrance's clock. */
  future: number;
}

export interface TrafficFolder {
  /**
   * Count `aggregates` of box `boxId` once each, within what its upload (`upMbit`, its BANDWIDTH-UP;
   * undefined: not measured) could carry; throws when Redis fails, and then nothing was counted.
   */
  fold(boxId: string, aggregates: readonly TrafficAggregate[], upMbit?: number): Promise<FoldResult>;
}

export interface TrafficFolderDeps {
  redis: Redis;
  config: Pick<EntranceConfig, 'TRAFFIC_MINUTE_DAYS' | 'TRAFFIC_HOUR_DAYS' | 'TRAFFIC_DAY_DAYS' | 'TRAFFIC_DEDUPE_DAYS'>;
  log: Logger;
  /** Whether traffic for this publisher may be counted (known-publishers.ts). */
  isKnownPublisher: KnownPublisherCheck;
  now?: () => number;
}

export function createTrafficFolder(deps: TrafficFolderDeps): TrafficFolder {
  const redis = defineScripts<FoldScripts>(deps.redis, { dandelionTrafficFold: { lua: FOLD_SCRIPT } });
  const { log } = deps;
  const now = deps.now ?? Date.now;
  const keys = trafficKeys(keyLayoutOfClient(deps.redis));
  const retentionMs: Readonly<Record<TrafficResolution, number>> = {
    minute: deps.config.TRAFFIC_MINUTE_DAYS * DAY_MS,
    hour: deps.config.TRAFFIC_HOUR_DAYS * DAY_MS,
    day: deps.config.TRAFFIC_DAY_DAYS * DAY_MS,
  };

  return {
    async fold(boxId, aggregates, upMbit) {
      const result: FoldResult = { counted: 0, implausible: 0, unknownPublisher: 0, duplicates: 0, stale: 0, future: 0 };
      const nowMs = now();
      const known = await knownAmong(aggregates, deps.isKnownPublisher);
      const keyList: string[] = [keys.fleetImplausible, keys.fleetUnknownPublisher];
      const args: Array<string | number> = [];
      let planned = 0;
      for (const agg of aggregates) {
        const countable = agg.PUBLISHER === '' || known.has(agg.PUBLISHER);
        const plan = planAggregate({ keys, boxId, agg, nowMs, retentionMs, dedupeMs: deps.config.TRAFFIC_DEDUPE_DAYS * DAY_MS, countable, upMbit });
        if (plan === 'stale' || plan === 'future') {
          result[plan] += 1;
          continue;
        }
        planned += 1;
        keyList.push(plan.marker, ...plan.counters.map(([key]) => key), ...plan.fields.map(([key]) => key), ...plan.window);
        args.push(plan.markerTtlMs, countable ? 'count' : 'unknown', agg.BYTES, agg.REQUESTS, plan.allowance, plan.counters.length, plan.fields.length, plan.window.length);
        args.push(...plan.counters.map(([, ttl]) => ttl), ...plan.fields.map(([, field]) => field));
      }
      if (planned > 0) {
        const reply = integers(await redis.dandelionTrafficFold(keyList.length, ...keyList, planned, boxId, ...args));
        [result.counted = 0, result.duplicates = 0, result.implausible = 0, result.unknownPublisher = 0] = reply;
        // The box drops what the entrance accepts: on a cluster, accept only what a failover keeps.
        await awaitReplica(deps.redis, keys.fleetTotal);
      }
      logOutcome(log, boxId, aggregates.length, result);
      return result;
    },
  };
}

/** The publishers named in `aggregates` that traffic may be counted for, each asked once. */
async function knownAmong(aggregates: readonly TrafficAggregate[], isKnown: KnownPublisherCheck): Promise<Set<string>> {
  const named = [...new Set(aggregates.map((a) => a.PUBLISHER).filter((p) => p !== ''))];
  const answers = await Promise.all(named.map(isKnown));
  return new Set(named.filter((_, i) => answers[i]));
}

function logOutcome(log: Logger, boxId: string, sent: number, result: FoldResult): void {
  if (result.stale > 0 || result.future > 0) {
    log.warn({ box: boxId, stale: result.stale, future: result.future }, 'traffic aggregates accepted but not counted: their time is outside the kept window (box clock wrong, or box offline too long)');
  }
  if (result.implausible > 0) {
    log.warn({ box: boxId, implausible: result.implausible }, 'traffic aggregates beyond what the box\'s measured upload could carry: counted only up to it (see the box\'s implausible bytes)');
  }
  if (result.unknownPublisher > 0) log.info({ box: boxId, unknownPublisher: result.unknownPublisher }, 'traffic aggregates for publishers this entrance does not know: not counted');
  if (sent > 0) log.debug({ box: boxId, ...result }, 'traffic folded');
}

interface AggregatePlan {
  marker: string;
  markerTtlMs: number;
  /** Counter hash → TTL in ms (0: kept for ever). */
  counters: Array<[string, number]>;
  /** Breakdown hash → field incremented by BYTES. */
  fields: Array<[string, string]>;
  /** The box's buckets the aggregate's capacity is checked over, and the bytes the box may have in them. */
  window: string[];
  allowance: number;
}

interface PlanInput {
  keys: TrafficKeys;
  boxId: string;
  agg: TrafficAggregate;
  nowMs: number;
  retentionMs: Readonly<Record<TrafficResolution, number>>;
  dedupeMs: number;
  /** false: a publisher the entrance does not know; nothing is counted, so no keys are planned. */
  countable: boolean;
  upMbit: number | undefined;
}

/**
 * Every key one aggregate adds to. TTLs are relative to the entrance's clock but aim at a fixed point
 * (the bucket's end plus its retention), so re-setting them on every increment keeps the same deadline.
 * A bucket already past its retention is left out, so a late aggregate cannot bring an expired one back.
 */
function planAggregate(input: PlanInput): AggregatePlan | 'stale' | 'future' {
  const { keys, boxId, agg, nowMs, retentionMs } = input;
  const fromMs = agg.FROM * 1000;
  if (fromMs > nowMs + FUTURE_TOLERANCE_MS) return 'future';
  const keepUntil = (resolution: TrafficResolution): number =>
    (bucketStart(agg.FROM, resolution) + BUCKET_SECONDS[resolution]) * 1000 + retentionMs[resolution];
  const countableUntil = Math.min(keepUntil('day'), fromMs + input.dedupeMs);
  if (countableUntil <= nowMs) return 'stale';
  const marker = { marker: keys.seen(boxId, agg.ID), markerTtlMs: Math.ceil(countableUntil + MARKER_MARGIN_MS - nowMs) };
  if (!input.countable) return { ...marker, counters: [], fields: [], window: [], allowance: 0 };

  const publisher = agg.PUBLISHER;
  const counters: Array<[string, number]> = [];
  const kept: TrafficResolution[] = [];
  for (const resolution of TRAFFIC_RESOLUTIONS) {
    const ttl = Math.ceil(keepUntil(resolution) - nowMs);
    if (ttl <= 0) continue;
    kept.push(resolution);
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

  const window = capacityWindow(agg, kept, input.upMbit);
  return { ...marker, counters, fields, window: window.buckets.map((t) => keys.boxBucket(boxId, window.resolution, t)), allowance: window.allowance };
}

/**
 * The box's buckets an aggregate is checked against, from the one holding FROM to the one holding TO:
 * in the finest resolution still kept for FROM (`kept`, finest first; the day always is) that needs at
 * most MAX_WINDOW_BUCKETS of them (the aggregate's bytes go into FROM's bucket, which is among them).
 */
function capacityWindow(agg: TrafficAggregate, kept: readonly TrafficResolution[], upMbit: number | undefined): { resolution: TrafficResolution; buckets: number[]; allowance: number } {
  const to = Math.max(agg.TO, agg.FROM);
  let resolution: TrafficResolution = 'day';
  let count = 1;
  for (const r of kept) {
    resolution = r;
    count = (bucketStart(to, r) - bucketStart(agg.FROM, r)) / BUCKET_SECONDS[r] + 1;
    if (count <= MAX_WINDOW_BUCKETS) break;
  }
  count = Math.min(count, MAX_WINDOW_BUCKETS);
  const step = BUCKET_SECONDS[resolution];
  const first = bucketStart(agg.FROM, resolution);
  return { resolution, buckets: Array.from({ length: count }, (_, i) => first + i * step), allowance: allowanceBytes(upMbit, count * step) };
}
