/**
 * The registry of boxes in Redis: `{ID}:BOX_SET` (box → expiry time in seconds) and `{ID}:EXCHANGE:<box>`
 * (its latest exchange), the keys original clients read, plus two indexes for SEARCH: `{ID}:BOX_GEO`
 * (where each box is) and `{ID}:BOX_CAPACITY` (how much it can serve). On a Redis Cluster the same keys
 * exist once per shard (`{ID:N}:BOX_SET` …, redis-keys.ts): a box lives in one shard, every write and
 * sweep batch runs inside one shard's slot, and SEARCH asks every shard and merges their candidates.
 * Every write of one box and every sweep batch is one Lua script, so a box refreshed while the sweep
 * runs is never half removed. A box its household paused (PAUSED in its EXCHANGE) is kept out of both
 * indexes, so SEARCH never lists it and a region of paused boxes costs SEARCH nothing, and counted in
 * `{ID}:BOX_PAUSED:<reason>` instead; its next EXCHANGE that serves puts it back. With REQUIRE_REACHABLE, SEARCH also leaves out every box whose fleet-wide
 * verdict (`dandelion:REACHABILITY:<box>`, reachability/store.ts) is not `reachable`.
 */
import type { Redis } from 'ioredis';
import { PAUSE_REASONS, boxExchangeFromHash, parseLoc, toHash, trafficKeyOwner } from '../../../shared/src/protocol/index.js';
import type { BoxExchange, GeoIp, PauseReason, RankedBox, WireValue } from '../../../shared/src/protocol/index.js';
import type { EntranceKeys, RegistryShardKeys } from '../../../shared/src/redis-keys.js';
import { reachabilityKeys, shardKeysOf, trustKeys } from '../../../shared/src/redis-keys.js';
import type { Logger } from '../../../shared/src/log.js';
import { execOrThrow, keyLayoutOfClient } from '../../../shared/src/redis.js';
import { stringHash, texts } from '../../../shared/src/redis-replies.js';
import { defineScripts } from '../../../shared/src/redis-scripts.js';
import { capacityScore, compareCandidates } from './ranking.js';
import type { Candidate } from './ranking.js';

const SWEEP_BATCH = 1000;
const REACHABILITY = reachabilityKeys();
/** Half the Earth's circumference: a GEOSEARCH radius that holds every box. */
const WHOLE_EARTH_KM = 20040;
/** Candidates fetched from each index for every box a SEARCH returns (expired ones and ranking need slack). */
const OVERFETCH = 5;
/**
 * GEOSEARCH radii tried in turn until enough boxes are found; the last covers the whole Earth. Which
 * radius finds the window never changes the rows (the nearest `window` boxes inside any radius that holds
 * that many are the nearest overall), only the cost: Redis visits every box in the geohash cells around
 * the circle and sorts those inside it, so a radius much wider than the window needs costs milliseconds
 * with a million boxes. Doubling steps keep the radius used within 2× of the one needed.
 */
export const SEARCH_RADII_KM = [25, 50, 100, 200, 400, 800, 1600, 3200, 6400, WHOLE_EARTH_KM];
/** The radius at `index`; past the end, the whole Earth. */
const radiusKm = (index: number): number => SEARCH_RADII_KM[index] ?? WHOLE_EARTH_KM;

/** KEYS: BOX_SET, then every set a box is indexed or counted in (BOX_GEO, BOX_CAPACITY, the BOX_PAUSED sets). */
const SWEEP_SCRIPT = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  redis.call('DEL', ARGV[3] .. id)
  for i = 2, #KEYS do redis.call('ZREM', KEYS[i], id) end
  redis.call('ZREM', KEYS[1], id)
end
return #ids`;

/**
 * One box's write as one atomic command: building seven commands per EXCHANGE in the client is where
 * an entrance under many heartbeats spends its CPU (bench/README.md, heartbeat).
 * KEYS: exchange hash, BOX_SET, BOX_CAPACITY, BOX_GEO, then one BOX_PAUSED set per reason. ARGV: id,
 * expiry, capacity, lon, lat ('' for no place), the index among the BOX_PAUSED keys of the reason the box
 * is paused for ('0': it serves), then the exchange's field/value pairs.
 */
const UPSERT_SCRIPT = `
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 7))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
local paused = tonumber(ARGV[6])
for i = 5, #KEYS do
  if i - 4 == paused then redis.call('ZADD', KEYS[i], ARGV[2], ARGV[1]) else redis.call('ZREM', KEYS[i], ARGV[1]) end
end
if paused > 0 then
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('ZREM', KEYS[4], ARGV[1])
  return 1
end
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
if ARGV[4] == '' then
  redis.call('ZREM', KEYS[4], ARGV[1])
else
  redis.call('GEOADD', KEYS[4], ARGV[4], ARGV[5], ARGV[1])
end
return 1`;

/**
 * A SEARCH's candidates in one round trip: the nearest boxes (GEOSEARCH, widening through the radii until
 * a full window is found), the best by capacity, and of those only the live ones: not expired, not
 * quarantined, and with REQUIRE_REACHABLE only those whose verdict is `reachable`. Ranking stays in
 * ranking.ts; the script only gathers. The verdict keys are built from a prefix, as the sweep builds the
 * exchange keys, because which boxes they are is known only inside the script.
 * KEYS: BOX_GEO, BOX_CAPACITY, BOX_SET, then the quarantine when it shares their slot (one Redis; on a
 * cluster the caller filters the quarantined and the unreachable itself, see liveOnCluster). ARGV: lon ('' for no place), lat, window, the
 * radius index to start at (1-based), now (seconds), the verdict key prefix ('' when reachability does
 * not count), then the radii (km). Returns {radius index used, distance of the farthest row when the
 * window was full (else ''), {id, distance ('' for none), capacity, …} of the live ones, how many were gathered}.
 */
const CANDIDATES_SCRIPT = `
local window = tonumber(ARGV[3])
local index = tonumber(ARGV[4])
local radii = {}
for i = 7, #ARGV do radii[#radii + 1] = ARGV[i] end
local distance, order = {}, {}
local farthest = ''
if ARGV[1] ~= '' then
  local rows = redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', ARGV[1], ARGV[2], 'BYRADIUS', radii[index], 'km', 'ASC', 'COUNT', window, 'WITHDIST')
  while #rows < window and index < #radii do
    index = index + 1
    rows = redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', ARGV[1], ARGV[2], 'BYRADIUS', radii[index], 'km', 'ASC', 'COUNT', window, 'WITHDIST')
  end
  if #rows >= window then farthest = rows[#rows][2] end
  for _, row in ipairs(rows) do distance[row[1]] = row[2]; order[#order + 1] = row[1] end
end
for _, id in ipairs(redis.call('ZREVRANGE', KEYS[2], 0, window - 1)) do
  if distance[id] == nil then distance[id] = ''; order[#order + 1] = id end
end
-- ZMSCORE over a chunk at a time: one command per index instead of one per box, and unpack stays
-- within Lua's stack.
local function scores(key)
  local out = {}
  for from = 1, #order, 1000 do
    local chunk = redis.call('ZMSCORE', key, unpack(order, from, math.min(from + 999, #order)))
    for _, score in ipairs(chunk) do out[#out + 1] = score end
  end
  return out
end
local now = tonumber(ARGV[5])
local live = {}
if #order > 0 then
  local expiries, capacities = scores(KEYS[3]), scores(KEYS[2])
  local quarantined = KEYS[4] and scores(KEYS[4]) or {}
  for i, id in ipairs(order) do
    local alive = tonumber(expiries[i] or '0') > now and not (tonumber(quarantined[i] or '0') > now)
    if alive and (ARGV[6] == '' or redis.call('HGET', ARGV[6] .. id, 'verdict') == 'reachable') then
      live[#live + 1] = id
      live[#live + 1] = distance[id]
      live[#live + 1] = capacities[i] or '0'
    end
  end
end
return {index, farthest, live, #order}`;

interface RegistryScripts {
  dandelionSearchCandidates(geo: string, capacity: string, boxSet: string, quarantine: string, ...args: Array<string | number>): Promise<unknown>;
  dandelionShardCandidates(geo: string, capacity: string, boxSet: string, ...args: Array<string | number>): Promise<unknown>;
  dandelionUpsert(exchange: string, boxSet: string, capacity: string, geo: string, ...pausedAndArgs: Array<string | number>): Promise<number>;
  dandelionSweep(boxSet: string, geo: string, capacity: string, ...pausedAndArgs: Array<string | number>): Promise<number>;
}

export interface RegistryDeps {
  redis: Redis;
  keys: EntranceKeys;
  expireSeconds: number;
  /** REQUIRE_REACHABLE: SEARCH lists only boxes whose verdict is `reachable` (default false). */
  requireReachable?: boolean;
  log: Logger;
  now?: () => number;
}

export class BoxRegistry {
  private readonly redis: Redis & RegistryScripts;
  private readonly keys: EntranceKeys;
  private readonly shards: readonly RegistryShardKeys[];
  /**
   * On a cluster the quarantine and the verdicts live in other slots than a shard's keys, so a script run in
   * the shard's slot cannot read them: SEARCH reads them in a second step (liveOnCluster).
   */
  private readonly sharded: boolean;
  /** The fleet-wide quarantine (trustKeys), in the layout of this client. */
  private readonly quarantineKey: string;
  private readonly expireSeconds: number;
  private readonly requireReachable: boolean;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(deps: RegistryDeps) {
    this.redis = defineScripts<RegistryScripts>(deps.redis, {
      dandelionUpsert: { numberOfKeys: 4 + PAUSE_REASONS.length, lua: UPSERT_SCRIPT },
      dandelionSweep: { numberOfKeys: 3 + PAUSE_REASONS.length, lua: SWEEP_SCRIPT },
      dandelionSearchCandidates: { numberOfKeys: 4, lua: CANDIDATES_SCRIPT },
      dandelionShardCandidates: { numberOfKeys: 3, lua: CANDIDATES_SCRIPT },
    });
    this.keys = deps.keys;
    this.shards = deps.keys.shards;
    this.sharded = this.shards.length > 1;
    this.quarantineKey = trustKeys(keyLayoutOfClient(deps.redis)).quarantine;
    this.radiusIndex = this.shards.map(() => 0);
    this.expireSeconds = deps.expireSeconds;
    this.requireReachable = deps.requireReachable ?? false;
    this.log = deps.log;
    this.now = deps.now ?? Date.now;
  }

  /** Store a box's exchange (without its traffic records, which are events, not state) and refresh its expiry. */
  async upsert(msg: BoxExchange, publicIp: string | undefined): Promise<void> {
    const stored: Record<string, WireValue> = {};
    for (const [key, value] of Object.entries(msg)) {
      if (trafficKeyOwner(key) === undefined) stored[key] = value;
    }
    if (publicIp !== undefined) stored.PUBLIC_IP = publicIp;
    const id = msg.ID;
    const expiry = this.now() / 1000 + this.expireSeconds;
    const loc = parseLoc(msg.GEOIP?.LOC);
    const paused = msg.PAUSED ? PAUSE_REASONS.indexOf(msg.PAUSED) + 1 : 0;
    const args: Array<string | number> = [id, expiry, capacityScore(msg), loc ? loc.lon : '', loc ? loc.lat : '', paused];
    for (const [field, value] of Object.entries(toHash(stored))) args.push(field, value);
    const shard = shardKeysOf(this.keys, id);
    await this.redis.dandelionUpsert(shard.exchange(id), shard.boxSet, shard.boxCapacity, shard.boxGeo, ...pausedKeysOf(shard), ...args);
  }

  /** A box's stored exchange, or undefined when it is not registered (or unreadable). */
  async exchangeOf(boxId: string): Promise<BoxExchange | undefined> {
    const hash = await this.redis.hgetall(this.keys.exchange(boxId));
    if (Object.keys(hash).length === 0) return undefined;
    try {
      return boxExchangeFromHash(hash);
    } catch {
      return undefined;
    }
  }

  /** Boxes whose expiry has not passed. */
  async countOnline(): Promise<number> {
    const from = `(${this.now() / 1000}`;
    return sum(await Promise.all(this.shards.map((shard) => this.redis.zcount(shard.boxSet, from, '+inf'))));
  }

  /** Live boxes paused for each reason (their last EXCHANGE said so and has not expired). */
  async countPaused(): Promise<Record<PauseReason, number>> {
    const from = `(${this.now() / 1000}`;
    const counts = await Promise.all(PAUSE_REASONS.map(async (reason) => sum(await Promise.all(this.shards.map((shard) => this.redis.zcount(shard.boxPaused(reason), from, '+inf'))))));
    const out: Record<PauseReason, number> = { quota: 0, 'quiet-hours': 0 };
    PAUSE_REASONS.forEach((reason, i) => (out[reason] = counts[i] ?? 0));
    return out;
  }

  /** Each box's expiry in BOX_SET (seconds since the epoch), or null when it is not registered; in the order asked. */
  async expiriesOf(boxIds: readonly string[]): Promise<Array<string | null>> {
    return boxExpiries(this.redis, this.keys, boxIds);
  }

  /**
   * Drop one box at once (its enrolment was revoked), as the sweep would once it expired, and its fleet-wide
   * verdict. The box's own keys go in one transaction (one slot); the verdict, in another slot on a cluster, beside it.
   */
  async remove(boxId: string): Promise<void> {
    const shard = shardKeysOf(this.keys, boxId);
    const tx = this.redis.multi().del(shard.exchange(boxId)).zrem(shard.boxSet, boxId).zrem(shard.boxGeo, boxId).zrem(shard.boxCapacity, boxId);
    for (const key of pausedKeysOf(shard)) tx.zrem(key, boxId);
    await Promise.all([execOrThrow(tx.exec()), this.redis.del(REACHABILITY.box(boxId))]);
  }

  /** Remove every box whose expiry has passed; returns how many. */
  async sweep(): Promise<number> {
    const removed = await Promise.all(this.shards.map((shard) => this.sweepShard(shard)));
    return sum(removed);
  }

  private async sweepShard(shard: RegistryShardKeys): Promise<number> {
    let removed = 0;
    for (;;) {
      const n = await this.redis.dandelionSweep(
        shard.boxSet, shard.boxGeo, shard.boxCapacity, ...pausedKeysOf(shard),
        String(this.now() / 1000), SWEEP_BATCH, shard.exchange(''),
      );
      removed += n;
      if (n < SWEEP_BATCH) return removed;
    }
  }

  /**
   * Up to `limit` live boxes, best first, each with its stored exchange and RANK.
   *
   * Two round trips in the usual case: (1) the live candidates, near and best by capacity
   * (CANDIDATES_SCRIPT); (2) the chosen boxes' exchanges. On a cluster (1) runs in every shard at once
   * and the rows are merged: each shard's window holds its own nearest and its own best, so the union
   * holds the whole registry's nearest and best and compareCandidates orders them as one Redis would.
   */
  async search(publisherGeo: GeoIp | undefined, limit: number): Promise<RankedBox[]> {
    const origin = parseLoc(publisherGeo?.LOC);
    let window = limit * OVERFETCH;
    for (let attempt = 0; ; attempt++) {
      const { live, gathered } = await this.liveCandidates(origin, window);
      live.sort(compareCandidates);
      const { chosen, left } = this.sharded ? await this.firstAdmitted(live, limit) : { chosen: live.slice(0, limit), left: 0 };
      const enough = chosen.length >= limit || (live.length === gathered && left === 0) || attempt === 2;
      if (enough) return this.load(chosen);
      window *= 10; // many candidates had expired since the last sweep, or were left out: look further
    }
  }

  /**
   * Which of SEARCH_RADII_KM the next search starts at. The nearest `window` boxes within a radius that
   * holds at least `window` are the nearest `window` within any larger one too, so starting further out
   * than needed changes nothing but the cost, and the rows are always those of the first radius that
   * holds a full window. It moves in when the last window would have fitted in the radius below.
   */
  private readonly radiusIndex: number[];

  /** The live candidates of every shard, and how many candidates were gathered before the expired and the left-out were dropped. */
  private async liveCandidates(origin: { lat: number; lon: number } | undefined, window: number): Promise<{ live: Candidate[]; gathered: number }> {
    const shards = await Promise.all(this.shards.map((shard, i) => this.shardCandidates(shard, i, origin, window)));
    const gathered = sum(shards.map((s) => s.gathered));
    const live = shards.flatMap((s) => s.live);
    return { live, gathered };
  }

  private async shardCandidates(shard: RegistryShardKeys, i: number, origin: { lat: number; lon: number } | undefined, window: number): Promise<{ live: Candidate[]; gathered: number }> {
    const index = Math.min(this.radiusIndex[i] ?? 0, SEARCH_RADII_KM.length - 1);
    const args = [origin ? origin.lon : '', origin ? origin.lat : '', window, index + 1, this.now() / 1000];
    const reply = this.sharded
      ? await this.redis.dandelionShardCandidates(shard.boxGeo, shard.boxCapacity, shard.boxSet, ...args, '', ...SEARCH_RADII_KM)
      : await this.redis.dandelionSearchCandidates(shard.boxGeo, shard.boxCapacity, shard.boxSet, this.quarantineKey, ...args, this.requireReachable ? REACHABILITY.box('') : '', ...SEARCH_RADII_KM);
    const { used, farthest, live, gathered } = decodeCandidates(reply);
    if (origin) {
      // Next time: the radius this one needed, or the one below when the window fitted inside it.
      this.radiusIndex[i] = used > 0 && farthest !== undefined && farthest <= radiusKm(used - 1) ? used - 1 : used;
    }
    return { live, gathered };
  }

  /**
   * On a cluster: the first `limit` of the ranked candidates that are not quarantined and, with
   * REQUIRE_REACHABLE, whose verdict is `reachable`, and how many were left out. Checked a chunk at a time in
   * rank order, so a SEARCH reads the verdicts of about the boxes it returns, not of every shard's window.
   */
  private async firstAdmitted(ranked: readonly Candidate[], limit: number): Promise<{ chosen: Candidate[]; left: number }> {
    const chosen: Candidate[] = [];
    let left = 0;
    const chunk = Math.max(2 * limit, 32);
    for (let from = 0; from < ranked.length && chosen.length < limit; from += chunk) {
      const part = ranked.slice(from, from + chunk);
      const admitted = await this.admitted(part);
      left += part.length - admitted.length;
      chosen.push(...admitted.slice(0, limit - chosen.length));
    }
    return { chosen, left };
  }

  /** Those of `candidates` that are not quarantined and, with REQUIRE_REACHABLE, whose verdict is `reachable`; in their order. */
  private async admitted(candidates: Candidate[]): Promise<Candidate[]> {
    if (candidates.length === 0) return candidates;
    const now = this.now() / 1000;
    const [until, verdicts] = await Promise.all([
      this.redis.zmscore(this.quarantineKey, ...candidates.map((c) => c.id)),
      this.requireReachable ? Promise.all(candidates.map((c) => this.redis.hget(REACHABILITY.box(c.id), 'verdict'))) : undefined,
    ]);
    return candidates.filter((_, i) => !(Number(until[i] ?? 0) > now) && (verdicts === undefined || verdicts[i] === 'reachable'));
  }

  private async load(ranked: Candidate[]): Promise<RankedBox[]> {
    if (ranked.length === 0) return [];
    // One command per box rather than a pipeline: on a cluster the boxes' shards live on different nodes, and
    // auto-pipelining still sends the commands of one tick together.
    const results = await Promise.all(ranked.map((c) => this.redis.hgetall(this.keys.exchange(c.id)).catch(() => ({}))));
    const out: RankedBox[] = [];
    ranked.forEach(({ id }, i) => {
      const hash = stringHash(results[i] ?? {});
      if (Object.keys(hash).length === 0) return; // swept between the two reads
      try {
        out.push({ ...boxExchangeFromHash(hash), RANK: out.length + 1 });
      } catch (decodeErr) {
        this.log.warn({ err: decodeErr, box: id }, 'stored exchange unreadable; box left out of SEARCH');
      }
    });
    return out;
  }
}

/** `{ID}:BOX_PAUSED:<reason>` of a shard, in the order of PAUSE_REASONS. */
function pausedKeysOf(shard: RegistryShardKeys): string[] {
  return PAUSE_REASONS.map((reason) => shard.boxPaused(reason));
}

function sum(counts: readonly number[]): number {
  return counts.reduce((a, b) => a + b, 0);
}

/**
 * Each box's expiry in its shard's BOX_SET, or null when it is not registered; in the order asked. One
 * ZMSCORE per shard that holds any of them (a command may name keys of one slot only on a cluster).
 */
export async function boxExpiries(redis: Redis, keys: EntranceKeys, boxIds: readonly string[]): Promise<Array<string | null>> {
  const byShard = new Map<RegistryShardKeys, number[]>();
  boxIds.forEach((id, i) => {
    const shard = shardKeysOf(keys, id);
    const listed = byShard.get(shard);
    if (listed) listed.push(i);
    else byShard.set(shard, [i]);
  });
  const out: Array<string | null> = boxIds.map(() => null);
  await Promise.all([...byShard].map(async ([shard, indexes]) => {
    const scores = await redis.zmscore(shard.boxSet, ...indexes.map((i) => boxIds[i] ?? ''));
    indexes.forEach((at, j) => (out[at] = scores[j] ?? null));
  }));
  return out;
}

/** CANDIDATES_SCRIPT's reply: the radius index it used (0-based), the farthest distance of a full window, the live candidates, how many were gathered. */
function decodeCandidates(reply: unknown): { used: number; farthest: number | undefined; live: Candidate[]; gathered: number } {
  if (!Array.isArray(reply) || reply.length !== 4) throw new Error('the SEARCH script replied in an unexpected shape');
  const [index, farthestText, rows, gathered] = reply;
  const flat = texts(rows);
  const live: Candidate[] = [];
  for (let i = 0; i + 2 < flat.length; i += 3) {
    const distance = flat[i + 1];
    live.push({ id: flat[i] ?? '', distanceKm: distance ? Number(distance) : undefined, capacity: Number(flat[i + 2] ?? 0) });
  }
  const farthest = typeof farthestText === 'string' && farthestText !== '' ? Number(farthestText) : undefined;
  return { used: Number(index) - 1, farthest, live, gathered: Number(gathered) };
}
