/**
 * What the entrance's DNS zone holds, read live from Redis at each query so every entrance sharing the
 * Redis answers alike and a box's new address is answered from its next heartbeat on: a registered box's
 * address (its PUBLIC_IP, the address its socket came from) and the DNS-01 TXT values an ACME order
 * published for a box name (acme/challenge-records.ts).
 */
import type { Redis } from 'ioredis';
import type { EntranceKeys } from '../../../shared/src/redis-keys.js';
import { acmeKeys, shardKeysOf } from '../../../shared/src/redis-keys.js';
import { normaliseIp } from '../../../shared/src/peer-address.js';
import { repliesOf } from '../../../shared/src/redis-replies.js';

/** Most TXT values answered for one name: an order publishes one per authorization, a box orders one name. */
const MAX_TXT_VALUES = 8;

export interface ZoneRecords {
  /** The address of `boxId` while it is registered (its expiry not passed), else undefined. */
  addressOf(boxId: string): Promise<string | undefined>;
  /** The DNS-01 TXT values published for `boxName` (lowercase), none when no order is running. */
  challengeValues(boxName: string): Promise<string[]>;
}

export class RedisZoneRecords implements ZoneRecords {
  private readonly acme = acmeKeys();

  constructor(
    private readonly redis: Redis,
    private readonly keys: EntranceKeys,
    private readonly now: () => number = Date.now,
  ) {}

  async addressOf(boxId: string): Promise<string | undefined> {
    const shard = shardKeysOf(this.keys, boxId); // both keys in one slot, so one pipeline on a cluster too
    const [expiry, address] = repliesOf(await this.redis.pipeline().zscore(shard.boxSet, boxId).hget(shard.exchange(boxId), 'PUBLIC_IP').exec());
    if (typeof expiry !== 'string' || Number(expiry) <= this.now() / 1000) return undefined;
    if (typeof address !== 'string') return undefined;
    const ip = normaliseIp(address);
    return ip === '' ? undefined : ip;
  }

  async challengeValues(boxName: string): Promise<string[]> {
    return this.redis.srandmember(this.acme.challenge(boxName), MAX_TXT_VALUES);
  }
}
