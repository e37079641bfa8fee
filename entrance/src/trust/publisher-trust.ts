/**
 * What the entrance tells peers about trust: the grant a SEARCH reply carries (signed with the current
 * fleet key), and what boxes need to check grants offline (the fleet public keys and the revoked
 * publishers) in EXCHANGE replies and the enrolment answer. Read from Redis each time, so every entrance
 * on one Redis says the same and a rotation or revocation reaches boxes with their next heartbeat.
 */
import type { Redis } from 'ioredis';
import { Limits } from '../../../shared/src/protocol/fields.js';
import type { TrustKeys } from '../../../shared/src/redis-keys.js';
import { signGrant } from '../../../shared/src/trust/grant.js';
import type { FleetKeys } from './fleet-keys.js';

/** How long a grant lives: long enough to outlast an entrance outage, short enough that a revocation bites. */
export const GRANT_SECONDS = 600;

/** Bytes one publisher may hold on one box when its account sets no quota: a few hours of a live stream's segments. */
export const DEFAULT_GRANT_QUOTA_BYTES = 1024 ** 3;

/** Bytes `publisherId` may hold on each box: the seam where a publisher account's quota plugs in. */
export type QuotaLookup = (publisherId: string) => Promise<number>;

export const defaultGrantQuota: QuotaLookup = () => Promise.resolve(DEFAULT_GRANT_QUOTA_BYTES);

export interface BoxTrustFields {
  FLEET_KEYS: Record<string, string>;
  REVOKED_PUBLISHERS: string[];
}

export interface PublisherTrustDeps {
  redis: Redis;
  keys: TrustKeys;
  fleetKeys: FleetKeys;
  /** Whether grants are issued and boxes told to check them (REQUIRE_PUBLISHER_AUTH). */
  required: boolean;
  quotaBytes?: QuotaLookup;
  now?: () => number;
}

export class PublisherTrust {
  private readonly quotaBytes: QuotaLookup;

  constructor(private readonly deps: PublisherTrustDeps) {
    this.quotaBytes = deps.quotaBytes ?? defaultGrantQuota;
  }

  get required(): boolean {
    return this.deps.required;
  }

  /** The grant a SEARCH reply to `publisherId` carries, or undefined when boxes are not told to check grants. */
  async grantFor(publisherId: string): Promise<string | undefined> {
    if (!this.deps.required) return undefined;
    if ((await this.deps.redis.sismember(this.deps.keys.revokedPublishers, publisherId)) === 1) return undefined;
    const [key, quota] = await Promise.all([this.deps.fleetKeys.current(), this.quotaBytes(publisherId)]);
    const issued = Math.floor((this.deps.now ?? Date.now)() / 1000);
    return signGrant({ PUBLISHER: publisherId, ISSUED: issued, EXPIRES: issued + GRANT_SECONDS, QUOTA_BYTES: quota, KEY_ID: key.keyId }, key.privateKey);
  }

  /** The first key being made: a fleet's first heartbeats arrive together, and each would otherwise make (and throw away) one. */
  private firstKey: Promise<Record<string, string>> | undefined;

  private makeFirstKey(): Promise<Record<string, string>> {
    this.firstKey ??= this.deps.fleetKeys.current().then(() => this.deps.fleetKeys.publicKeys()).finally(() => (this.firstKey = undefined));
    return this.firstKey;
  }

  /** What a box is told to check grants with, or undefined when it is not to check them (it then takes any PUBLISH). */
  async boxFields(): Promise<BoxTrustFields | undefined> {
    if (!this.deps.required) return undefined;
    const [listed, revoked] = await Promise.all([this.deps.fleetKeys.publicKeys(), this.deps.redis.smembers(this.deps.keys.revokedPublishers)]);
    // A fleet nobody searched yet has no key: make it, so boxes pin one before the first grant.
    const keys = Object.keys(listed).length > 0 ? listed : await this.makeFirstKey();
    // The reply's decoder takes at most this many; the rest reach boxes once older revocations are forgotten.
    return { FLEET_KEYS: keys, REVOKED_PUBLISHERS: revoked.sort().slice(0, Limits.revokedPublishers) };
  }
}
