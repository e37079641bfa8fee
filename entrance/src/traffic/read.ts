/**
 * Queries over the fleet-wide traffic counters that fold.ts writes: all-time totals, time series with
 * zero-filled buckets, and which boxes served which publishers. Read-only; every key comes from
 * `trafficKeys()`. IDs are checked before they become part of a key.
 */
import type { Redis } from 'ioredis';
import { isIdOf } from '../../../shared/src/protocol/index.js';
import { trafficKeys } from '../../../shared/src/redis-keys.js';
import { repliesOf, textsOrNull } from '../../../shared/src/redis-replies.js';
import type { TrafficKeys, TrafficResolution } from '../../../shared/src/redis-keys.js';
import { BUCKET_SECONDS, TRAFFIC_RESOLUTIONS, bucketStart } from './fold.js';
import { keyLayoutOfClient } from '../../../shared/src/redis.js';

/** Most buckets one series may ask for (a week of minutes is 10,080). */
export const MAX_SERIES_POINTS = 20_000;
/** Stands for traffic that named no publisher in the by-publisher breakdowns. */
export const NO_PUBLISHER = trafficKeys().noPublisher;

export interface TrafficCount {
  bytes: number;
  requests: number;
}

export interface TrafficPoint extends TrafficCount {
  /** Start of the bucket, seconds since the epoch (UTC). */
  t: number;
}

export type TrafficScope = 'fleet' | 'box' | 'publisher';

export interface SeriesQuery {
  scope: TrafficScope;
  /** The box or publisher ID; not used for 'fleet'. */
  id?: string;
  resolution: TrafficResolution;
  /** Seconds since the epoch; the series starts with the bucket holding `from`. */
  from: number;
  /** Seconds since the epoch; the series ends with the bucket holding `to`. */
  to: number;
}

/** The counters' keys in the layout of this client (one Redis or a cluster). */
const keysOf = (redis: Redis) => trafficKeys(keyLayoutOfClient(redis));

/** All-time bytes and requests of one box, one publisher's files, or (with neither) the whole fleet. */
export async function trafficTotals(redis: Redis, who: { box?: string; publisher?: string } = {}): Promise<TrafficCount> {
  if (who.box !== undefined && who.publisher !== undefined) throw new RangeError('ask for a box or a publisher, not both');
  const keys = keysOf(redis);
  let key: string = keys.fleetTotal;
  if (who.box !== undefined) key = keys.boxTotal(checkedId(who.box, 'box'));
  if (who.publisher !== undefined) key = keys.publisherTotal(checkedId(who.publisher, 'publisher'));
  const [bytes, requests] = await redis.hmget(key, 'bytes', 'requests');
  return { bytes: Number(bytes ?? 0), requests: Number(requests ?? 0) };
}

/** One point per bucket from `from` to `to` (both included), oldest first; buckets with no traffic are zeros. */
export async function trafficSeries(redis: Redis, q: SeriesQuery): Promise<TrafficPoint[]> {
  if (!TRAFFIC_RESOLUTIONS.includes(q.resolution)) throw new RangeError(`resolution must be one of ${TRAFFIC_RESOLUTIONS.join(', ')}`);
  if (!Number.isFinite(q.from) || !Number.isFinite(q.to) || q.from > q.to) throw new RangeError('from and to must be times with from <= to');
  const step = BUCKET_SECONDS[q.resolution];
  const first = bucketStart(q.from, q.resolution);
  const count = Math.floor((bucketStart(q.to, q.resolution) - first) / step) + 1;
  if (count > MAX_SERIES_POINTS) throw new RangeError(`a series may hold at most ${MAX_SERIES_POINTS} buckets, not ${count}`);
  const keyOf = bucketKeyOf(keysOf(redis), q);
  const pipe = redis.pipeline();
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = first + i * step;
    times.push(t);
    pipe.hmget(keyOf(t), 'bytes', 'requests');
  }
  const rows = repliesOf(await pipe.exec());
  return times.map((t, i) => {
    const [bytes, requests] = textsOrNull(rows[i]);
    return { t, bytes: Number(bytes ?? 0), requests: Number(requests ?? 0) };
  });
}

/** The boxes that served a publisher's files, with the bytes each sent (all time), most first. */
export async function boxesOfPublisher(redis: Redis, publisherId: string): Promise<Array<{ box: string; bytes: number }>> {
  const hash = await redis.hgetall(keysOf(redis).publisherBoxes(checkedId(publisherId, 'publisher')));
  return byBytes(hash).map(([box, bytes]) => ({ box, bytes }));
}

/** The publishers whose files a box served (NO_PUBLISHER for other requests), with bytes (all time), most first. */
export async function publishersOfBox(redis: Redis, boxId: string): Promise<Array<{ publisher: string; bytes: number }>> {
  const hash = await redis.hgetall(keysOf(redis).boxPublishers(checkedId(boxId, 'box')));
  return byBytes(hash).map(([publisher, bytes]) => ({ publisher, bytes }));
}

/** Every box that has served anything, with its all-time bytes, most first. */
export async function trafficBoxes(redis: Redis): Promise<Array<{ box: string; bytes: number }>> {
  return byBytes(await redis.hgetall(keysOf(redis).fleetBoxes)).map(([box, bytes]) => ({ box, bytes }));
}

/** Every publisher whose files the fleet served (NO_PUBLISHER for other requests), with all-time bytes, most first. */
export async function trafficPublishers(redis: Redis): Promise<Array<{ publisher: string; bytes: number }>> {
  return byBytes(await redis.hgetall(keysOf(redis).fleetPublishers)).map(([publisher, bytes]) => ({ publisher, bytes }));
}

/** Every box that reported more than its measured upload could carry, with the bytes beyond it (all time), most first. */
export async function implausibleBoxes(redis: Redis): Promise<Array<{ box: string; bytes: number }>> {
  return byBytes(await redis.hgetall(keysOf(redis).fleetImplausible)).map(([box, bytes]) => ({ box, bytes }));
}

/** Bytes boxes reported for publishers the entrance did not know (not counted), all boxes together. */
export async function unknownPublisherBytes(redis: Redis): Promise<number> {
  return Object.values(await redis.hgetall(keysOf(redis).fleetUnknownPublisher)).reduce((sum, v) => sum + Number(v), 0);
}

function bucketKeyOf(keys: TrafficKeys, q: SeriesQuery): (t: number) => string {
  switch (q.scope) {
    case 'fleet':
      return (t) => keys.fleetBucket(q.resolution, t);
    case 'box': {
      const id = checkedId(q.id, 'box');
      return (t) => keys.boxBucket(id, q.resolution, t);
    }
    case 'publisher': {
      const id = checkedId(q.id, 'publisher');
      return (t) => keys.publisherBucket(id, q.resolution, t);
    }
    default:
      throw new RangeError(`scope must be fleet, box or publisher, not ${String(q.scope)}`);
  }
}

function checkedId(id: string | undefined, role: 'box' | 'publisher'): string {
  if (id === undefined || !isIdOf(id, role === 'box' ? 'BOX' : 'PUBLISHER')) throw new RangeError(`${JSON.stringify(id)} is not a ${role} ID`);
  return id;
}

/** Hash field → bytes, largest first, then by name so equal ones keep a stable order. */
export function byBytes(hash: Record<string, string>): Array<[string, number]> {
  return Object.entries(hash)
    .map(([k, v]): [string, number] => [k, Number(v)])
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}
