/**
 * Stored traffic the protocol's decoder refused. The box sends its pending aggregates and TRAFFIC_FLOW
 * records back to the entrance, which decodes them like any other input; one entry it cannot take gets
 * the whole EXCHANGE refused, and it would be resent, and refused, with every heartbeat. So the box decodes
 * what it read from Redis with the same decoder first, and an entry that fails is moved here with the
 * reason: out of the way of the next heartbeat, kept for the operator (as the publisher's FILE:REJECTED).
 */
import type { Redis } from 'ioredis';
import type { BoxKeys } from '../../../shared/src/redis-keys.js';

/** Entries kept in {ID}:TRAFFIC_PENDING:REJECTED, newest last; older ones are trimmed. */
export const MAX_REJECTED_TRAFFIC = 1_000;
/** How much of a refused entry is kept. */
const ENTRY_CHARS = 4_096;

export interface RejectedTraffic {
  /** The Redis key it was read from: {ID}:TRAFFIC_PENDING, or a {ID}:TRAFFIC_FLOW:log-<id> record. */
  KEY: string;
  /** For TRAFFIC_PENDING: the hash field (the aggregate ID it was stored under). */
  FIELD?: string;
  /** The stored text as read, cut to 4 KiB. */
  ENTRY: string;
  /** Why the decoder refused it. */
  ERROR: string;
}

/** Removes each entry from where it was stored and appends it to the capped REJECTED list, in one MULTI. */
export async function moveAside(redis: Redis, keys: BoxKeys, entries: readonly RejectedTraffic[]): Promise<void> {
  if (entries.length === 0) return;
  const at = Math.floor(Date.now() / 1000);
  const tx = redis.multi();
  for (const e of entries) {
    if (e.FIELD === undefined) tx.del(e.KEY);
    else tx.hdel(e.KEY, e.FIELD);
    tx.rpush(keys.trafficRejected, JSON.stringify({ ...e, ENTRY: e.ENTRY.slice(0, ENTRY_CHARS), AT: at }));
  }
  tx.ltrim(keys.trafficRejected, -MAX_REJECTED_TRAFFIC, -1);
  const results = await tx.exec();
  for (const [err] of results ?? []) if (err) throw err;
}
