/**
 * Boxes a publisher caught serving other bytes than it sent (its own audit fetched a copy back and the
 * SHA-256 differed). A publisher names them in its SEARCH (QUARANTINE); every entrance on this Redis
 * then leaves them out of every publisher's SEARCH reply (registry.ts reads `quarantine`) for
 * QUARANTINE_SECONDS, and the dashboard shows why. Fleet-wide keys, as for trust and enrolment: one
 * entrance's verdict must hold at all of them.
 *
 * Only boxes this entrance knows are recorded (a made-up ID would grow Redis), and a box already
 * quarantined keeps its first record until it expires, so a publisher repeating its list in every
 * SEARCH does not extend it for ever. One publisher may quarantine at most MAX_PER_PUBLISHER_PER_DAY
 * boxes a day: a publisher that lies cannot empty the fleet, and an honest one catching more than that
 * is something for the operator to look at (the publisher itself still stops using every box it caught).
 */
import type { Redis } from 'ioredis';
import { isRecord, parseJsonSafe } from '../../../shared/src/protocol/index.js';
import type { QuarantineReport } from '../../../shared/src/protocol/index.js';
import type { EntranceKeys, TrustKeys } from '../../../shared/src/redis-keys.js';
import { boxExpiries } from '../registry/registry.js';

/** How long a quarantined box stays out of SEARCH: a day, long enough for its operator to look. */
export const QUARANTINE_SECONDS = 24 * 3600;
export const MAX_PER_PUBLISHER_PER_DAY = 20;

/** What the dashboard shows of a quarantined box. */
export interface QuarantineRecord {
  REASON: string;
  PATH: string;
  PUBLISHER: string;
  /** When it was quarantined, and until when (seconds since the epoch). */
  AT: number;
  UNTIL: number;
}

export interface QuarantineDeps {
  redis: Redis;
  keys: EntranceKeys;
  trust: TrustKeys;
  now?: () => number;
}

export class Quarantine {
  constructor(private readonly deps: QuarantineDeps) {}

  private nowSeconds(): number {
    return (this.deps.now ?? Date.now)() / 1000;
  }

  /** Record what a publisher's SEARCH named; returns the boxes newly quarantined. */
  async record(publisherId: string, reports: readonly QuarantineReport[]): Promise<string[]> {
    const { redis, keys, trust } = this.deps;
    const ids = [...new Set(reports.map((r) => r.BOX_ID))];
    if (ids.length === 0) return [];
    const now = this.nowSeconds();
    const [known, until] = await Promise.all([boxExpiries(redis, keys, ids), redis.zmscore(trust.quarantine, ...ids)]);
    const candidates = ids.filter((_, i) => known[i] !== null && !(Number(until[i] ?? 0) > now));
    if (candidates.length === 0) return [];
    const fresh = candidates.slice(0, await this.allowance(publisherId, candidates.length));
    if (fresh.length === 0) return [];
    const tx = redis.multi();
    for (const id of fresh) {
      const report = reports.find((r) => r.BOX_ID === id);
      if (!report) continue;
      const record: QuarantineRecord = { REASON: report.REASON, PATH: report.PATH, PUBLISHER: publisherId, AT: Math.floor(now), UNTIL: Math.floor(now + QUARANTINE_SECONDS) };
      tx.zadd(trust.quarantine, record.UNTIL, id).hset(trust.quarantineReasons, id, JSON.stringify(record));
    }
    await tx.exec();
    return fresh;
  }

  /** How many of `wanted` quarantines this publisher may still make today (and count them as made). */
  private async allowance(publisherId: string, wanted: number): Promise<number> {
    const key = this.deps.trust.quarantinedBy(publisherId);
    const replies = await this.deps.redis.multi().incrby(key, wanted).expire(key, 86_400, 'NX').exec();
    const total = Number(replies?.[0]?.[1] ?? Number.POSITIVE_INFINITY);
    return Math.max(0, Math.min(wanted, MAX_PER_PUBLISHER_PER_DAY - (total - wanted)));
  }

  /** Boxes quarantined now, with their records; expired entries are dropped on the way. */
  async current(): Promise<Map<string, QuarantineRecord>> {
    const { redis, trust } = this.deps;
    const now = this.nowSeconds();
    const [, active, reasons] = await Promise.all([
      redis.zremrangebyscore(trust.quarantine, '-inf', now),
      redis.zrangebyscore(trust.quarantine, now, '+inf'),
      redis.hgetall(trust.quarantineReasons),
    ]);
    const out = new Map<string, QuarantineRecord>();
    for (const id of active) {
      const record = decodeRecord(reasons[id]);
      if (record) out.set(id, record);
    }
    const stale = Object.keys(reasons).filter((id) => !active.includes(id));
    if (stale.length > 0) await redis.hdel(trust.quarantineReasons, ...stale);
    return out;
  }

  /** An operator's clear: the box is listed again at once. */
  async clear(boxId: string): Promise<boolean> {
    const removed = await this.deps.redis.zrem(this.deps.trust.quarantine, boxId);
    await this.deps.redis.hdel(this.deps.trust.quarantineReasons, boxId);
    return removed > 0;
  }
}

function decodeRecord(text: string | undefined): QuarantineRecord | undefined {
  if (text === undefined) return undefined;
  let raw: unknown;
  try {
    raw = parseJsonSafe(text);
  } catch {
    return undefined;
  }
  if (!isRecord(raw)) return undefined;
  const { REASON, PATH, PUBLISHER, AT, UNTIL } = raw;
  if (typeof REASON !== 'string' || typeof PATH !== 'string' || typeof PUBLISHER !== 'string' || typeof AT !== 'number' || typeof UNTIL !== 'number') return undefined;
  return { REASON, PATH, PUBLISHER, AT, UNTIL };
}
