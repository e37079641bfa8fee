/**
 * The registry of boxes in Redis: `{ID}:BOX_SET` (box → expiry time in seconds) and `{ID}:EXCHANGE:<box>`
 * (its latest exchange), the keys original clients read, plus two indexes for SEARCH: `{ID}:BOX_GEO`
 * (where each box is) and `{ID}:BOX_CAPACITY` (how much it can serve).
 * Every write of one box and every sweep batch is one Lua script, so a box refreshed while the sweep
 * runs is never half removed. A box its household paused (PAUSED in its EXCHANGE) is kept out of both
 * indexes, so SEARCH never lists it and a region of paused boxes costs SEARCH nothing, and counted in
 * `{ID}:BOX_PAUSED:<reason>` instead; its next EXCHANGE that serves puts it back. With REQUIRE_REACHABLE, SEARCH also leaves out every box whose fleet-wide
 * verdict (`dandelion:REACHABILITY:<box>`, reachability/store.ts) is not `reachable`.
 */
import type { Redis } from 'ioredis';
import { PAUSE_REASONS, boxExchangeFromHash, parseLoc, toHash, trafficKeyOwner } from '../../../shared/src/protocol/index.js';
import type { BoxExchange, GeoIp, PauseReason, RankedBox, WireValue } from '../../../shared/src/protocol/index.js';
import type { EntranceKeys } from '../../../shared/src/redis-keys.js';
import { reachabilityKeys, trustKeys } from '../../../shared/src/redis-keys.js';
import type { Logger } from '../../../shared/src/log.js';
import { execOrThrow } from '../../../shared/src/redis.js';
import { repliesOf, stringHash, textPairs, texts, textsOrNull } from '../../../shared/src/redis-replies.js';
import { defineScripts } from '../../../shared/src/redis-scripts.js';
import { capacityScore, compareCandidates } from './ranking.js';
import type { Candidate } from './ranking.js';

const SWEEP_BATCH = 1000;
const QUARANTINE_KEY = trustKeys().quarantine;
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

interface RegistryScripts {
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
  /** `{ID}:BOX_PAUSED:<reason>`, in the order of PAUSE_REASONS. */
  private readonly pausedKeys: string[];
  private readonly expireSeconds: number;
  private readonly requireReachable: boolean;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(deps: RegistryDeps) {
    this.redis = defineScripts<RegistryScripts>(deps.redis, {
      dandelionUpsert: { numberOfKeys: 4 + PAUSE_REASONS.length, lua: UPSERT_SCRIPT },
      dandelionSweep: { numberOfKeys: 3 + PAUSE_REASONS.length, lua: SWEEP_SCRIPT },
    });
    this.keys = deps.keys;
    this.pausedKeys = PAUSE_REASONS.map((reason) => deps.keys.boxPaused(reason));
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
    await this.redis.dandelionUpsert(this.keys.exchange(id), this.keys.boxSet, this.keys.boxCapacity, this.keys.boxGeo, ...this.pausedKeys, ...args);
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
    return this.redis.zcount(this.keys.boxSet, `(${this.now() / 1000}`, '+inf');
  }

  /** Live boxes paused for each reason (their last EXCHANGE said so and has not expired). */
  async countPaused(): Promise<Record<PauseReason, number>> {
    const from = `(${this.now() / 1000}`;
    const counts = await Promise.all(this.pausedKeys.map((key) => this.redis.zcount(key, from, '+inf')));
    const out: Record<PauseReason, number> = { quota: 0, 'quiet-hours': 0 };
    PAUSE_REASONS.forEach((reason, i) => (out[reason] = counts[i] ?? 0));
    return out;
  }

  /** Drop one box at once (its enrolment was revoked), as the sweep would once it expired, and its fleet-wide verdict. */
  async remove(boxId: string): Promise<void> {
    const tx = this.redis.multi().del(this.keys.exchange(boxId), REACHABILITY.box(boxId)).zrem(this.keys.boxSet, boxId).zrem(this.keys.boxGeo, boxId).zrem(this.keys.boxCapacity, boxId);
    for (const key of this.pausedKeys) tx.zrem(key, boxId);
    await execOrThrow(tx.exec());
  }

  /** Remove every box whose expiry has passed; returns how many. */
  async sweep(): Promise<number> {
    let removed = 0;
    for (;;) {
      const n = await this.redis.dandelionSweep(
        this.keys.boxSet, this.keys.boxGeo, this.keys.boxCapacity, ...this.pausedKeys,
        String(this.now() / 1000), SWEEP_BATCH, this.keys.exchange(''),
      );
      removed += n;
      if (n < SWEEP_BATCH) return removed;
    }
  }

  /**
   * Up to `limit` live boxes, best first, each with its stored exchange and RANK.
   *
   * Three round trips in the usual case: (1) the nearest boxes and the best by capacity, together;
   * (2) every candidate's capacity and expiry, together; (3) the chosen boxes' exchanges.
   */
  async search(publisherGeo: GeoIp | undefined, limit: number): Promise<RankedBox[]> {
    const origin = parseLoc(publisherGeo?.LOC);
    let window = limit * OVERFETCH;
    for (let attempt = 0; ; attempt++) {
      const candidates = await this.candidates(origin, window);
      const live = await this.scoreAndKeepLive(candidates);
      const enough = live.length >= limit || live.length === candidates.size || attempt === 2;
      if (enough) return this.load(live.sort(compareCandidates).slice(0, limit));
      window *= 10; // many candidates had expired since the last sweep: look further
    }
  }

  /**
   * Which of SEARCH_RADII_KM the next search starts at. The nearest `window` boxes within a radius that
   * holds at least `window` are the nearest `window` within any larger one too, so starting further out
   * than needed changes nothing but the cost, and the rows are always those of the first radius that
   * holds a full window. It moves in when the last window would have fitted in the radius below.
   */
  private radiusIndex = 0;

  private async geosearch(origin: { lat: number; lon: number }, radius: number, window: number): Promise<Array<[string, string]>> {
    return textPairs(await this.redis.geosearch(this.keys.boxGeo, 'FROMLONLAT', origin.lon, origin.lat, 'BYRADIUS', radius, 'km', 'ASC', 'COUNT', window, 'WITHDIST'));
  }

  private async candidates(origin: { lat: number; lon: number } | undefined, window: number): Promise<Map<string, Candidate>> {
    const found = new Map<string, Candidate>();
    const last = SEARCH_RADII_KM.length - 1;
    let index = Math.min(this.radiusIndex, last);
    const first = this.redis.pipeline();
    if (origin) first.geosearch(this.keys.boxGeo, 'FROMLONLAT', origin.lon, origin.lat, 'BYRADIUS', radiusKm(index), 'km', 'ASC', 'COUNT', window, 'WITHDIST');
    first.zrevrange(this.keys.boxCapacity, 0, window - 1);
    const results = repliesOf(await first.exec());
    if (origin) {
      let rows = textPairs(results[0]);
      while (rows.length < window && index < last) {
        index++;
        rows = await this.geosearch(origin, radiusKm(index), window);
      }
      // Next time: the radius this one needed, or the one below when the window fitted inside it.
      const farthest = rows.length >= window ? Number(rows[rows.length - 1]?.[1]) : Number.POSITIVE_INFINITY;
      this.radiusIndex = index > 0 && farthest <= radiusKm(index - 1) ? index - 1 : index;
      for (const [id, dist] of rows) found.set(id, { id, distanceKm: Number(dist), capacity: 0 });
    }
    for (const id of texts(results[origin ? 1 : 0])) {
      if (!found.has(id)) found.set(id, { id, distanceKm: undefined, capacity: 0 });
    }
    return found;
  }

  /**
   * Capacities, and a filter at read time, so SEARCH never returns a box that expired since the last
   * sweep, nor one a publisher's audit quarantined (trust/quarantine.ts) until that quarantine ends, nor,
   * with REQUIRE_REACHABLE, one whose verdict is not `reachable` (still being checked included).
   */
  private async scoreAndKeepLive(candidates: Map<string, Candidate>): Promise<Candidate[]> {
    const ids = [...candidates.keys()];
    if (ids.length === 0) return [];
    const pipe = this.redis.pipeline().zmscore(this.keys.boxCapacity, ...ids).zmscore(this.keys.boxSet, ...ids).zmscore(QUARANTINE_KEY, ...ids);
    if (this.requireReachable) for (const id of ids) pipe.hget(REACHABILITY.box(id), 'verdict');
    const results = repliesOf(await pipe.exec());
    const scores = textsOrNull(results[0]);
    const expiries = textsOrNull(results[1]);
    const quarantinedUntil = textsOrNull(results[2]);
    const nowSeconds = this.now() / 1000;
    const live: Candidate[] = [];
    [...candidates.values()].forEach((c, i) => {
      c.capacity = Number(scores[i] ?? 0);
      const reachable = !this.requireReachable || results[3 + i] === 'reachable';
      if (reachable && Number(expiries[i] ?? 0) > nowSeconds && !(Number(quarantinedUntil[i] ?? 0) > nowSeconds)) live.push(c);
    });
    return live;
  }

  private async load(ranked: Candidate[]): Promise<RankedBox[]> {
    if (ranked.length === 0) return [];
    const pipe = this.redis.pipeline();
    for (const c of ranked) pipe.hgetall(this.keys.exchange(c.id));
    const results = (await pipe.exec()) ?? [];
    const out: RankedBox[] = [];
    ranked.forEach(({ id }, i) => {
      const [err, reply] = results[i] ?? [null, null];
      const hash = err || !reply ? {} : stringHash(reply);
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
