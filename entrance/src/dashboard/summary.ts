/** The fleet at a glance, as /api/summary and the live events' `summary` event give it. */
import type { Redis } from 'ioredis';
import { bucketStart } from '../traffic/fold.js';
import { trafficSeries, trafficTotals } from '../traffic/read.js';
import type { Fleet } from './fleet.js';
import { offloadRatio } from './publishers.js';
import type { Publishers } from './publishers.js';

export interface FleetSummary {
  BOXES: { ONLINE: number; STALE: number; OFFLINE: number; TOTAL: number };
  BYTES: { HOUR: number; DAY: number; TOTAL: number };
  OFFLOAD: { BOX_BYTES: number; ORIGIN_BYTES: number; RATIO: number | null };
  PUBLISHERS: number;
  /** The entrance's time, in seconds. */
  NOW: number;
}

export interface SummaryDeps {
  redis: Redis;
  fleet: Fleet;
  publishers: Publishers;
  now: () => number;
}

export async function fleetSummary(deps: SummaryDeps): Promise<FleetSummary> {
  const { redis, fleet, publishers, now } = deps;
  const states = await fleet.states();
  const BOXES = { ONLINE: 0, STALE: 0, OFFLINE: 0, TOTAL: states.size };
  for (const s of states.values()) {
    if (s === 'online') BOXES.ONLINE += 1;
    else if (s === 'stale') BOXES.STALE += 1;
    else BOXES.OFFLINE += 1;
  }
  const nowS = Math.floor(now() / 1000);
  const bucket = async (resolution: 'hour' | 'day'): Promise<number> =>
    (await trafficSeries(redis, { scope: 'fleet', resolution, from: bucketStart(nowS, resolution), to: nowS }))[0]?.bytes ?? 0;
  const [total, hour, day, origin, publisherCount] = await Promise.all([trafficTotals(redis), bucket('hour'), bucket('day'), publishers.originBytes(), publishers.count()]);
  return {
    BOXES,
    BYTES: { HOUR: hour, DAY: day, TOTAL: total.bytes },
    OFFLOAD: { BOX_BYTES: total.bytes, ORIGIN_BYTES: origin, RATIO: offloadRatio(total.bytes, origin) },
    PUBLISHERS: publisherCount,
    NOW: now() / 1000,
  };
}
