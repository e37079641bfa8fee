/**
 * Publishers as the dashboard sees them: who searched here within PUBLISHER_RECORD_DAYS, what their
 * origins served and what boxes served of their files, from the records SEARCH writes
 * (registry/publisher-records.ts) and the traffic counters. The newest page is read from the sorted
 * indexes, never everything.
 */
import type { Redis } from 'ioredis';
import { isIdOf } from '../../../shared/src/protocol/index.js';
import type { EntranceKeys } from '../../../shared/src/redis-keys.js';
import { trafficKeys } from '../../../shared/src/redis-keys.js';
import { stringHash, textOrNull, texts } from '../../../shared/src/redis-replies.js';
import { decodePublisherSeen } from '../registry/publisher-records.js';
import type { PublisherRecords } from '../registry/publisher-records.js';
import { byBytes } from '../traffic/read.js';
import { keyLayoutOfClient } from '../../../shared/src/redis.js';
import type { TrafficKeys } from '../../../shared/src/redis-keys.js';

/** Publishers /api/publishers lists when it is not told how many, and the most it lists at once. */
export const PUBLISHERS_PAGE = 100;
export const MAX_PUBLISHERS_PAGE = 500;

export interface PublisherRow {
  ID: string;
  LAST_SEEN: number | null;
  IP: string | null;
  ORIGIN_BYTES: number;
  BOX_BYTES: number;
  OFFLOAD: number | null;
  BOXES: Array<{ box: string; bytes: number }>;
}

export interface PublishersDeps {
  redis: Redis;
  keys: EntranceKeys;
  /** The write side: its cutoff says which records are current, and it settles the origin total. */
  records: PublisherRecords;
}

export function offloadRatio(boxBytes: number, originBytes: number): number | null {
  return boxBytes + originBytes > 0 ? boxBytes / (boxBytes + originBytes) : null;
}

export class Publishers {
  private readonly traffic: TrafficKeys;

  constructor(private readonly deps: PublishersDeps) {
    this.traffic = trafficKeys(keyLayoutOfClient(deps.redis));
  }

  /** Origin bytes of one publisher (while its counter is kept), or of every publisher ever (the fleet total). */
  async originBytes(publisherId?: string): Promise<number> {
    const { redis } = this.deps;
    if (publisherId !== undefined) return Number((await redis.hget(this.traffic.origin(publisherId), 'total')) ?? 0);
    const total = await redis.hget(this.traffic.originTotal, 'total');
    if (total !== null) return Number(total);
    await this.deps.records.settleOriginTotal();
    return Number((await redis.hget(this.traffic.originTotal, 'total')) ?? 0);
  }

  /** Publishers seen here within PUBLISHER_RECORD_DAYS. */
  async count(): Promise<number> {
    return this.deps.redis.zcount(this.deps.keys.publishersSeen, `(${this.deps.records.cutoff()}`, '+inf');
  }

  /**
   * The `limit` publishers heard from most recently (here, or through their origin reports at any
   * entrance), newest first. Two round trips whatever the number of publishers: the newest IDs from both
   * indexes, then four reads per listed publisher, sent together (auto-pipelined; not one pipeline, which
   * on a cluster may hold keys of one node only).
   */
  async list(limit = PUBLISHERS_PAGE): Promise<PublisherRow[]> {
    const ids = await this.newest(limit);
    if (ids.length === 0) return [];
    const { redis } = this.deps;
    const rows = await Promise.all(ids.map((id) => Promise.all([
      redis.hget(this.deps.keys.publishers, id), redis.hget(this.traffic.origin(id), 'total'),
      redis.hgetall(this.traffic.publisherBoxes(id)), redis.hget(this.traffic.publisherTotal(id), 'bytes'),
    ])));
    return ids.map((id, n) => {
      const [seen, origin, boxes, boxBytes] = rows[n] ?? [null, null, {}, null];
      const info = decodePublisherSeen(textOrNull(seen));
      const originBytes = Number(textOrNull(origin) ?? 0);
      const boxTotal = Number(textOrNull(boxBytes) ?? 0);
      return {
        ID: id, LAST_SEEN: info.LAST_SEEN ?? null, IP: info.IP ?? null, ORIGIN_BYTES: originBytes, BOX_BYTES: boxTotal,
        OFFLOAD: offloadRatio(boxTotal, originBytes), BOXES: byBytes(stringHash(boxes)).map(([box, bytes]) => ({ box, bytes })),
      };
    });
  }

  /** The IDs of the `limit` publishers heard from most recently, from this entrance's index and the fleet's origin index. */
  private async newest(limit: number): Promise<string[]> {
    const min = `(${this.deps.records.cutoff()}`;
    const replies = await Promise.all([
      this.deps.redis.zrevrangebyscore(this.deps.keys.publishersSeen, '+inf', min, 'WITHSCORES', 'LIMIT', 0, limit),
      this.deps.redis.zrevrangebyscore(this.traffic.originSeen, '+inf', min, 'WITHSCORES', 'LIMIT', 0, limit),
    ]);
    const lastHeard = new Map<string, number>();
    for (const reply of replies) {
      const pairs = texts(reply);
      for (let i = 0; i + 1 < pairs.length; i += 2) {
        const id = pairs[i] ?? '';
        if (isIdOf(id, 'PUBLISHER')) lastHeard.set(id, Math.max(lastHeard.get(id) ?? 0, Number(pairs[i + 1])));
      }
    }
    return [...lastHeard].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, limit).map(([id]) => id);
  }
}
