/**
 * Publishers as the entrance knows them: each SEARCH records when and from where a publisher asked,
 * and folds the bytes its own origin served (ORIGIN_BYTES, a running count since ORIGIN_SINCE) into a
 * fleet-wide total, so the offload ratio is what boxes served ÷ everything viewers fetched. A
 * publisher that restarts reports a new ORIGIN_SINCE and its count starts again from zero.
 */
import type { Redis } from 'ioredis';
import type { SearchRequest } from '../../../shared/src/protocol/index.js';
import type { EntranceKeys } from '../../../shared/src/redis-keys.js';
import { trafficKeys } from '../../../shared/src/redis-keys.js';
import { boxesOfPublisher, trafficTotals } from '../traffic/read.js';

const ORIGIN_SCRIPT = `
local since = redis.call('HGET', KEYS[1], 'since')
local reported = tonumber(redis.call('HGET', KEYS[1], 'reported') or '0')
local now = tonumber(ARGV[1])
local delta = now
if since == ARGV[2] then delta = now - reported end
if delta < 0 then delta = 0 end
if since ~= ARGV[2] or now > reported then redis.call('HSET', KEYS[1], 'since', ARGV[2], 'reported', now) end
redis.call('HINCRBY', KEYS[1], 'total', delta)
redis.call('SADD', KEYS[2], ARGV[3])
return delta`;

interface OriginCapable {
  dandelionOrigin(key: string, set: string, bytes: number, since: string, publisher: string): Promise<number>;
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

export function offloadRatio(boxBytes: number, originBytes: number): number | null {
  return boxBytes + originBytes > 0 ? boxBytes / (boxBytes + originBytes) : null;
}

export class Publishers {
  private readonly redis: Redis & OriginCapable;
  private readonly traffic = trafficKeys();

  constructor(redis: Redis, private readonly keys: EntranceKeys, private readonly now: () => number = Date.now) {
    if (!('dandelionOrigin' in redis)) redis.defineCommand('dandelionOrigin', { numberOfKeys: 2, lua: ORIGIN_SCRIPT });
    this.redis = redis as Redis & OriginCapable;
  }

  async record(msg: SearchRequest): Promise<void> {
    await this.redis.hset(this.keys.publishers, msg.ID, JSON.stringify({ LAST_SEEN: this.now() / 1000, IP: msg.IP }));
    if (msg.ORIGIN_BYTES !== undefined && msg.ORIGIN_SINCE !== undefined) {
      await this.redis.dandelionOrigin(this.traffic.origin(msg.ID), this.traffic.originPublishers, msg.ORIGIN_BYTES, String(msg.ORIGIN_SINCE), msg.ID);
    }
  }

  async originBytes(publisherId?: string): Promise<number> {
    const ids = publisherId ? [publisherId] : await this.redis.smembers(this.traffic.originPublishers);
    if (ids.length === 0) return 0;
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hget(this.traffic.origin(id), 'total');
    return ((await pipe.exec()) ?? []).reduce((sum, [, v]) => sum + Number(v ?? 0), 0);
  }

  async count(): Promise<number> {
    return this.redis.hlen(this.keys.publishers);
  }

  async list(): Promise<PublisherRow[]> {
    const seen = await this.redis.hgetall(this.keys.publishers);
    const ids = new Set([...Object.keys(seen), ...(await this.redis.smembers(this.traffic.originPublishers))]);
    const rows: PublisherRow[] = [];
    for (const id of [...ids].sort()) {
      let info: { LAST_SEEN?: number; IP?: string } = {};
      try {
        info = JSON.parse(seen[id] ?? '{}') as typeof info;
      } catch {
        /* intentional: shown without LAST_SEEN */
      }
      const [origin, boxes, boxBytes] = await Promise.all([this.originBytes(id), boxesOfPublisher(this.redis, id), trafficTotals(this.redis, { publisher: id })]);
      rows.push({ ID: id, LAST_SEEN: info.LAST_SEEN ?? null, IP: info.IP ?? null, ORIGIN_BYTES: origin, BOX_BYTES: boxBytes.bytes, OFFLOAD: offloadRatio(boxBytes.bytes, origin), BOXES: boxes });
    }
    return rows;
  }
}
