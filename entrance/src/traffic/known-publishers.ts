/**
 * Which publishers the entrance counts traffic for. A box names the publisher of every aggregate it
 * reports, and a box can name anything: traffic counted for made-up publishers would grow Redis and
 * /metrics without bound and wreck real publishers' figures. So per-publisher counters exist only for a
 * publisher the entrance knows.
 *
 * The one place that says who is known.
 */
import type { Redis } from 'ioredis';
import type { EntranceKeys } from '../../../shared/src/redis-keys.js';
import { publisherAccount } from '../publishers/accounts.js';

/**
 * Known now: the publisher has an account that stands (publishers/accounts.ts), or a record at this entrance
 * (it SEARCHed here within PUBLISHER_RECORD_DAYS, as publishers without accounts do with REQUIRE_PUBLISHER_AUTH false).
 */
export async function isKnownPublisher(redis: Redis, keys: Pick<EntranceKeys, 'publishers'>, publisherId: string): Promise<boolean> {
  const account = await publisherAccount(redis, publisherId);
  if (account !== undefined) return !account.revoked;
  return (await redis.hexists(keys.publishers, publisherId)) === 1;
}

/** isKnownPublisher bound to one entrance's Redis and keys, as the fold and /metrics take it. */
export type KnownPublisherCheck = (publisherId: string) => Promise<boolean>;
