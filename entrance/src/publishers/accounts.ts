/**
 * Publisher accounts (fleet-wide, in Redis): an operator creates one by name, its token is shown once and
 * only the token secret's SHA-256 is kept, as for fleet tokens. The publisher enrols its Ed25519 key with the
 * token (enrolment/gate.ts, the same gate boxes go through) and from then on proves the key at every
 * WebSocket upgrade. The account also holds the publisher's byte quota per box, which grants carry.
 *
 * A publisher's token stays on its own machine only (unlike fleet tokens, which sit on every SD card), so
 * presenting it with a new key replaces the old key: a publisher that lost its RUN_DIRECTORY enrols again
 * without an operator. Whoever holds the token is the publisher; a leaked token is answered by revoking.
 */
import type { Redis } from 'ioredis';
import { keyFingerprint, newPublisherToken } from '../../../shared/src/enrolment/codec.js';
import { isIdOf } from '../../../shared/src/protocol/index.js';
import { enrolmentKeys, publisherAccountKeys, trustKeys } from '../../../shared/src/redis-keys.js';
import type { EnrolmentKeys, PublisherAccountKeys, TrustKeys } from '../../../shared/src/redis-keys.js';
import { execOrThrow } from '../../../shared/src/redis.js';
import { awaitReplica } from '../../../shared/src/redis-replica-wait.js';
import { repliesOf, stringHash, texts } from '../../../shared/src/redis-replies.js';
import { keyLayoutOfClient } from '../../../shared/src/redis.js';

export type PublisherState = 'created' | 'enrolled' | 'revoked';

/** What another part (grants, the box's revocation list) needs of an account. */
export interface PublisherAccount {
  id: string;
  quotaBytes: number;
  revoked: boolean;
}

/** An account as the CLI, /api and the dashboard list it. */
export interface PublisherAccountInfo {
  ID: string;
  STATE: PublisherState;
  QUOTA_BYTES: number;
  CREATED: number;
  ENROLLED_AT?: number;
  REVOKED_AT?: number;
  FINGERPRINT?: string;
  IP?: string;
}

export const DEFAULT_QUOTA_GB = 2;
export const MAX_QUOTA_GB = 100_000;
const GB = 1e9;
/** Accounts listed at once (the CLI, /api); an operator with more pages through Redis. */
const MAX_LISTED = 10_000;

export class PublisherNameError extends Error {
  override name = 'PublisherNameError';
}

/**
 * The publisher ID an operator's NAME stands for: `publisher-NAME`, or NAME itself when it is already a
 * publisher ID. Throws a PublisherNameError saying what a name may hold.
 */
export function publisherIdOf(name: string): string {
  const id = name.startsWith('publisher-') ? name : `publisher-${name}`;
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id.slice('publisher-'.length)) || !isIdOf(id, 'PUBLISHER')) {
    throw new PublisherNameError(`"${name.slice(0, 80)}" is not a publisher name: 1 to 64 letters, digits, '_', '.' or '-' (it becomes the ID publisher-<name>)`);
  }
  return id;
}

/** "2", "0.5" (GB, decimal) → bytes; throws a RangeError naming `what` for anything else. */
export function quotaBytesOf(text: string, what: string): number {
  const gb = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !(gb > 0) || gb > MAX_QUOTA_GB) throw new RangeError(`${what}: "${text.slice(0, 40)}" is not a number of GB above 0 and at most ${MAX_QUOTA_GB}`);
  return Math.max(1, Math.round(gb * GB));
}

/** How a publisher's enrolment went: a new key, the same key again, or a key replacing another. */
export type PublisherEnrolOutcome = { ok: true; detail: 'enrolled' | 'already enrolled' | 'new key' } | { ok: false; code: 'E_TOKEN' | 'E_REVOKED'; detail: string };

// KEYS: account. ARGV: secret hash, now, public key, ip, revocation channel, publisher ID. A replaced key's
// sockets are closed through the revocation channel, as a box's are.
const ENROL_SCRIPT = `
local a = redis.call('HMGET', KEYS[1], 'SECRET_HASH', 'STATE', 'PUBLIC_KEY')
if not a[1] or a[1] ~= ARGV[1] then return {'E_TOKEN', 'unknown publisher token'} end
if a[2] == 'revoked' then return {'E_REVOKED', 'this publisher was revoked by an operator'} end
if a[2] == 'enrolled' and a[3] == ARGV[3] then return {'OK', 'already enrolled'} end
redis.call('HSET', KEYS[1], 'PUBLIC_KEY', ARGV[3], 'STATE', 'enrolled', 'ENROLLED_AT', ARGV[2], 'IP', ARGV[4])
if a[2] == 'enrolled' then
  redis.call('PUBLISH', ARGV[5], ARGV[6])
  return {'OK', 'new key'}
end
return {'OK', 'enrolled'}
`;

// KEYS: account, accounts. ARGV: ID, secret hash, quota, now. Refuses a name already taken (revoked included:
// boxes keep refusing a revoked publisher's grants, so its ID is not handed out again).
const CREATE_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'SECRET_HASH', ARGV[2], 'QUOTA_BYTES', ARGV[3], 'CREATED', ARGV[4], 'STATE', 'created')
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
return 1
`;

export class PublisherAccounts {
  private readonly keys: PublisherAccountKeys;
  private readonly trust: TrustKeys;
  private readonly enrolment: EnrolmentKeys;

  constructor(
    private readonly redis: Redis,
    private readonly now: () => number = Date.now,
  ) {
    const layout = keyLayoutOfClient(redis);
    this.keys = publisherAccountKeys(layout);
    this.trust = trustKeys(layout);
    this.enrolment = enrolmentKeys(layout);
  }

  private nowS(): number {
    return Math.floor(this.now() / 1000);
  }

  /** A new account and its token (shown once); undefined when the ID is taken. */
  async create(publisherId: string, quotaBytes: number): Promise<{ token: string; info: PublisherAccountInfo } | undefined> {
    const { token, secretHash } = newPublisherToken(publisherId);
    const created = this.nowS();
    const made = await this.redis.eval(CREATE_SCRIPT, 2, this.keys.account(publisherId), this.keys.accounts, publisherId, secretHash, String(quotaBytes), String(created));
    if (made !== 1) return undefined;
    // The operator hands the token out next: it must outlive a failover (redis-replica-wait.ts).
    await awaitReplica(this.redis, this.keys.accounts);
    return { token, info: { ID: publisherId, STATE: 'created', QUOTA_BYTES: quotaBytes, CREATED: created } };
  }

  async list(): Promise<PublisherAccountInfo[]> {
    const ids = await this.redis.zrevrange(this.keys.accounts, 0, MAX_LISTED - 1);
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hgetall(this.keys.account(id));
    const rows = repliesOf(await pipe.exec());
    return ids.flatMap((id, i) => {
      const info = accountInfo(id, stringHash(rows[i]));
      return info ? [info] : [];
    });
  }

  /** False when there is no such account. Its open sockets close at every entrance on this Redis, and boxes are told (REVOKED_PUBLISHERS). */
  async revoke(publisherId: string): Promise<boolean> {
    const key = this.keys.account(publisherId);
    if (!(await this.redis.exists(key))) return false;
    // The account and the revoked set are in two namespaces (two slots on a cluster), so two steps, the
    // set first: boxes refuse the publisher from then on, and a revoke that failed half-way is retried whole.
    await this.redis.sadd(this.trust.revokedPublishers, publisherId);
    await awaitReplica(this.redis, this.trust.revokedPublishers);
    await execOrThrow(this.redis.multi().hset(key, { STATE: 'revoked', REVOKED_AT: this.nowS() }).publish(this.enrolment.revokedChannel, publisherId).exec());
    await awaitReplica(this.redis, key);
    return true;
  }

  /** The account's state, or undefined when there is none. */
  async stateOf(publisherId: string): Promise<PublisherState | undefined> {
    return stateFrom(await this.redis.hget(this.keys.account(publisherId), 'STATE'));
  }

  /** The enrolled key and state, as the gate checks an upgrade; undefined when no key was ever enrolled. */
  async keyRecord(publisherId: string): Promise<{ publicKey: string; state: PublisherState } | undefined> {
    const [publicKey, state] = await this.redis.hmget(this.keys.account(publisherId), 'PUBLIC_KEY', 'STATE');
    const known = stateFrom(state);
    if (!publicKey || known === undefined) return undefined;
    return { publicKey, state: known };
  }

  async enrol(opts: { publisherId: string; publicKey: string; secretHash: string; ip: string }): Promise<PublisherEnrolOutcome> {
    const [code, detail = ''] = texts(await this.redis.eval(
      ENROL_SCRIPT, 1, this.keys.account(opts.publisherId),
      opts.secretHash, String(this.nowS()), opts.publicKey, opts.ip, this.enrolment.revokedChannel, opts.publisherId,
    ));
    if (code === 'OK') {
      await awaitReplica(this.redis, this.keys.accounts);
      return { ok: true, detail: detail === 'already enrolled' || detail === 'new key' ? detail : 'enrolled' };
    }
    return { ok: false, code: code === 'E_REVOKED' ? 'E_REVOKED' : 'E_TOKEN', detail };
  }
}

function stateFrom(text: string | null | undefined): PublisherState | undefined {
  return text === 'created' || text === 'enrolled' || text === 'revoked' ? text : undefined;
}

function accountInfo(id: string, h: Record<string, string>): PublisherAccountInfo | undefined {
  const state = stateFrom(h.STATE);
  if (state === undefined || !h.SECRET_HASH) return undefined;
  const info: PublisherAccountInfo = { ID: id, STATE: state, QUOTA_BYTES: Number(h.QUOTA_BYTES ?? 0), CREATED: Number(h.CREATED ?? 0) };
  if (h.ENROLLED_AT) info.ENROLLED_AT = Number(h.ENROLLED_AT);
  if (h.REVOKED_AT) info.REVOKED_AT = Number(h.REVOKED_AT);
  if (h.PUBLIC_KEY) info.FINGERPRINT = keyFingerprint(h.PUBLIC_KEY);
  if (h.IP) info.IP = h.IP;
  return info;
}

/** One publisher's account for grants (quota per box) and revocation checks; undefined when it has none. */
export async function publisherAccount(redis: Redis, publisherId: string): Promise<PublisherAccount | undefined> {
  const [state, quota] = await redis.hmget(publisherAccountKeys(keyLayoutOfClient(redis)).account(publisherId), 'STATE', 'QUOTA_BYTES');
  const known = stateFrom(state);
  if (known === undefined) return undefined;
  return { id: publisherId, quotaBytes: Number(quota ?? 0), revoked: known === 'revoked' };
}

/** IDs of every revoked publisher (what boxes are told to refuse and clean up, trust/publisher-trust.ts). */
export async function revokedPublisherIds(redis: Redis): Promise<string[]> {
  return (await redis.smembers(trustKeys(keyLayoutOfClient(redis)).revokedPublishers)).sort();
}
