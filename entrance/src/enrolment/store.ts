/**
 * Fleet tokens and enrolled boxes in Redis (fleet-wide keys, shared by every entrance). Token checks and
 * use counts happen inside one Lua script, so a token with one use left enrols exactly one box however
 * many try at once, and a revoked box cannot enrol itself back with the token still on its card.
 */
import type { Redis } from 'ioredis';
import { keyFingerprint, newFleetToken } from '../../../shared/src/enrolment/codec.js';
import { enrolmentKeys } from '../../../shared/src/redis-keys.js';
import { isRecord, parseJsonSafe } from '../../../shared/src/protocol/index.js';
import { execOrThrow } from '../../../shared/src/redis.js';
import { repliesOf, stringHash, texts } from '../../../shared/src/redis-replies.js';
import type { EnrolmentKeys } from '../../../shared/src/redis-keys.js';
import { keyLayoutOfClient } from '../../../shared/src/redis.js';
import { awaitReplica } from '../../../shared/src/redis-replica-wait.js';

export type BoxEnrolmentState = 'enrolled' | 'revoked';

export interface TokenInfo {
  ID: string;
  CREATED: number;
  /** Seconds since the epoch; 0: never. */
  EXPIRES: number;
  MAX_USES: number;
  USES: number;
  REVOKED: boolean;
  NOTE: string;
}

export interface EnrolledBox {
  ID: string;
  STATE: BoxEnrolmentState;
  FINGERPRINT: string;
  TOKEN: string;
  ENROLLED_AT: number;
  REVOKED_AT?: number;
  IP: string;
  /** A new key that asked to enrol under this ID (a re-flashed card, or a hijack): who, when, and whether an operator approved it. */
  REQUESTED?: { FINGERPRINT: string; AT: number; IP: string; APPROVED: boolean };
}

export interface PendingBox {
  ID: string;
  SEEN: number;
  IP: string;
  REASON: string;
  FINGERPRINT?: string;
}

/** How an enrolment went: a new box, the same key again, or a new key for an enrolled ID (rotated by the old key, or approved). */
export type EnrolDetail = 'enrolled' | 'already enrolled' | 'rotated' | 'approved';
export type EnrolOutcome = { ok: true; detail: EnrolDetail } | { ok: false; code: 'E_TOKEN' | 'E_REVOKED' | 'E_PENDING'; detail: string };

/** What an operator's approval of a box's new key did. */
export type ApproveOutcome = { ok: true; fingerprint: string } | { ok: false; reason: 'no such box' | 'no new key waits for approval' | 'another key asks now' };

const ENROL_DETAILS: readonly EnrolDetail[] = ['enrolled', 'already enrolled', 'rotated', 'approved'];
const REFUSAL_CODES = ['E_TOKEN', 'E_REVOKED', 'E_PENDING'] as const;

/** Pending boxes kept for the dashboard; the oldest are dropped beyond this, so strangers cannot grow it without bound. */
const MAX_PENDING = 1000;

// KEYS: token, box, boxes, pending. ARGV: secret hash, now, box ID, public key, token ID, ip, the old key a
// rotation signature was verified with ('' for none), the revocation channel.
// A new key for an enrolled ID enrols only when the old key signed it (ARGV[7] is still the stored key) or an
// operator approved that very key (APPROVED_KEY); otherwise it is kept as the box's REQUESTED_KEY and refused
// E_PENDING, so a fleet token alone never takes over an enrolled box. Only a successful enrolment of a new
// key takes a token use.
const ENROL_SCRIPT = `
local t = redis.call('HMGET', KEYS[1], 'SECRET_HASH', 'EXPIRES', 'MAX_USES', 'USES', 'REVOKED')
if not t[1] or t[1] ~= ARGV[1] then return {'E_TOKEN', 'unknown fleet token'} end
if t[5] == '1' then return {'E_TOKEN', 'fleet token revoked'} end
local now = tonumber(ARGV[2])
if tonumber(t[2]) > 0 and tonumber(t[2]) <= now then return {'E_TOKEN', 'fleet token expired'} end
local b = redis.call('HMGET', KEYS[2], 'STATE', 'PUBLIC_KEY', 'APPROVED_KEY')
if b[1] == 'revoked' then return {'E_REVOKED', 'this box was revoked by an operator'} end
if b[1] == 'enrolled' and b[2] == ARGV[4] then return {'OK', 'already enrolled'} end
if tonumber(t[4]) >= tonumber(t[3]) then return {'E_TOKEN', 'fleet token used up'} end
local how = 'enrolled'
if b[1] == 'enrolled' then
  if ARGV[7] ~= '' and ARGV[7] == b[2] then how = 'rotated'
  elseif b[3] == ARGV[4] then how = 'approved'
  else
    redis.call('HSET', KEYS[2], 'REQUESTED_KEY', ARGV[4], 'REQUESTED_AT', ARGV[2], 'REQUESTED_IP', ARGV[6])
    return {'E_PENDING', 'this box ID is enrolled with another key: an operator must approve the new key (or the old key sign its rotation)'}
  end
end
redis.call('HINCRBY', KEYS[1], 'USES', 1)
redis.call('HSET', KEYS[2], 'PUBLIC_KEY', ARGV[4], 'STATE', 'enrolled', 'TOKEN', ARGV[5], 'ENROLLED_AT', ARGV[2], 'IP', ARGV[6])
redis.call('HDEL', KEYS[2], 'REVOKED_AT', 'APPROVED_KEY', 'REQUESTED_KEY', 'REQUESTED_AT', 'REQUESTED_IP')
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
redis.call('HDEL', KEYS[4], ARGV[3])
if how ~= 'enrolled' then redis.call('PUBLISH', ARGV[8], ARGV[3]) end
return {'OK', how}
`;

// KEYS: box. ARGV[1]: the requested key the operator's fingerprint named; approved only if it still is the request.
const APPROVE_SCRIPT = `
local b = redis.call('HMGET', KEYS[1], 'STATE', 'REQUESTED_KEY')
if not b[1] then return 'NO_BOX' end
if not b[2] then return 'NO_REQUEST' end
if b[2] ~= ARGV[1] then return 'CHANGED' end
redis.call('HSET', KEYS[1], 'APPROVED_KEY', b[2])
return 'OK'
`;

export class EnrolmentStore {
  private readonly keys: EnrolmentKeys;

  constructor(
    private readonly redis: Redis,
    private readonly now: () => number = Date.now,
  ) {
    this.keys = enrolmentKeys(keyLayoutOfClient(redis));
  }

  private nowS(): number {
    return Math.floor(this.now() / 1000);
  }

  /** A new token; the caller shows `token` once, only its hash is kept. */
  async createToken(opts: { expiresInSeconds: number; maxUses: number; note?: string }): Promise<{ token: string; info: TokenInfo }> {
    const { token, tokenId, secretHash } = newFleetToken();
    const created = this.nowS();
    const info: TokenInfo = {
      ID: tokenId,
      CREATED: created,
      EXPIRES: opts.expiresInSeconds > 0 ? created + Math.round(opts.expiresInSeconds) : 0,
      MAX_USES: opts.maxUses,
      USES: 0,
      REVOKED: false,
      NOTE: (opts.note ?? '').slice(0, 200),
    };
    await execOrThrow(
      this.redis
        .multi()
        .hset(this.keys.token(tokenId), { SECRET_HASH: secretHash, CREATED: created, EXPIRES: info.EXPIRES, MAX_USES: info.MAX_USES, USES: 0, REVOKED: '0', NOTE: info.NOTE })
        .zadd(this.keys.tokens, created, tokenId)
        .exec(),
    );
    // The operator is shown the token next: it must outlive a failover (redis-replica-wait.ts).
    await awaitReplica(this.redis, this.keys.tokens);
    return { token, info };
  }

  async listTokens(): Promise<TokenInfo[]> {
    const ids = await this.redis.zrevrange(this.keys.tokens, 0, 999);
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hgetall(this.keys.token(id));
    const rows = repliesOf(await pipe.exec());
    return ids.flatMap((id, i) => {
      const h = stringHash(rows[i]);
      if (!h.SECRET_HASH) return [];
      return [{ ID: id, CREATED: Number(h.CREATED), EXPIRES: Number(h.EXPIRES), MAX_USES: Number(h.MAX_USES), USES: Number(h.USES), REVOKED: h.REVOKED === '1', NOTE: h.NOTE ?? '' }];
    });
  }

  /** False when there is no such token. Boxes it enrolled stay enrolled: revoke them one by one. */
  async revokeToken(tokenId: string): Promise<boolean> {
    if (!(await this.redis.exists(this.keys.token(tokenId)))) return false;
    await this.redis.hset(this.keys.token(tokenId), 'REVOKED', '1');
    await awaitReplica(this.redis, this.keys.tokens);
    return true;
  }

  /** `rotatedFrom`: the enrolled key a rotation signature was verified with; it counts only while that key is still the box's. */
  async enrol(opts: { boxId: string; publicKey: string; tokenId: string; secretHash: string; ip: string; rotatedFrom?: string }): Promise<EnrolOutcome> {
    const k = this.keys;
    const [code, detail = ''] = texts(await this.redis.eval(
      ENROL_SCRIPT,
      4,
      k.token(opts.tokenId),
      k.box(opts.boxId),
      k.boxes,
      k.pending,
      opts.secretHash,
      String(this.nowS()),
      opts.boxId,
      opts.publicKey,
      opts.tokenId,
      opts.ip,
      opts.rotatedFrom ?? '',
      k.revokedChannel,
    ));
    if (code === 'OK') {
      // The box is told it is enrolled: that must outlive a failover, or its next upgrade would be refused.
      // Even 'already enrolled': the enrolment that made it may be the one a failed wait left unconfirmed.
      await awaitReplica(this.redis, k.boxes);
      return { ok: true, detail: ENROL_DETAILS.find((d) => d === detail) ?? 'enrolled' };
    }
    return { ok: false, code: REFUSAL_CODES.find((c) => c === code) ?? 'E_TOKEN', detail };
  }

  /**
   * An operator approves the new key a re-flashed box last asked to enrol with: the box's next enrolment
   * with that key succeeds (and the old key stops working then). `expectedFingerprint`, when given, must be
   * the requested key's, so a request that changed since the operator looked is not approved blindly.
   */
  async approve(boxId: string, expectedFingerprint = ''): Promise<ApproveOutcome> {
    const requested = (await this.redis.hget(this.keys.box(boxId), 'REQUESTED_KEY')) ?? '';
    if (requested !== '' && expectedFingerprint !== '' && keyFingerprint(requested) !== expectedFingerprint) return { ok: false, reason: 'another key asks now' };
    const code = await this.redis.eval(APPROVE_SCRIPT, 1, this.keys.box(boxId), requested);
    if (code === 'NO_BOX') return { ok: false, reason: 'no such box' };
    if (code === 'NO_REQUEST') return { ok: false, reason: 'no new key waits for approval' };
    if (code !== 'OK') return { ok: false, reason: 'another key asks now' };
    await awaitReplica(this.redis, this.keys.boxes);
    return { ok: true, fingerprint: keyFingerprint(requested) };
  }


  /** The box's stored key and state, or undefined when it never enrolled (or was forgotten). */
  async boxRecord(boxId: string): Promise<{ publicKey: string; state: BoxEnrolmentState } | undefined> {
    const [publicKey, state] = await this.redis.hmget(this.keys.box(boxId), 'PUBLIC_KEY', 'STATE');
    if (!publicKey || (state !== 'enrolled' && state !== 'revoked')) return undefined;
    return { publicKey, state };
  }

  async stateOf(boxId: string): Promise<BoxEnrolmentState | undefined> {
    const state = await this.redis.hget(this.keys.box(boxId), 'STATE');
    return state === 'enrolled' || state === 'revoked' ? state : undefined;
  }

  /** Revoke (the box is refused from its next heartbeat on, and cannot re-enrol) or restore. False: no such box. */
  async setRevoked(boxId: string, revoked: boolean): Promise<boolean> {
    const key = this.keys.box(boxId);
    if (!(await this.redis.exists(key))) return false;
    const multi = this.redis.multi().zadd(this.keys.boxes, this.nowS(), boxId);
    if (revoked) multi.hset(key, { STATE: 'revoked', REVOKED_AT: this.nowS() });
    else multi.hset(key, { STATE: 'enrolled' }).hdel(key, 'REVOKED_AT');
    if (revoked) multi.publish(this.keys.revokedChannel, boxId);
    await execOrThrow(multi.exec());
    await awaitReplica(this.redis, this.keys.boxes);
    return true;
  }

  /** Drop the box's enrolment entirely: its key no longer opens a socket, and a valid token enrols it afresh. */
  async forget(boxId: string): Promise<boolean> {
    const rows = await execOrThrow(
      this.redis.multi().del(this.keys.box(boxId)).zrem(this.keys.boxes, boxId).hdel(this.keys.pending, boxId).publish(this.keys.revokedChannel, boxId).exec(),
    );
    await awaitReplica(this.redis, this.keys.boxes);
    return Number(rows[0]?.[1]) > 0;
  }

  async listBoxes(): Promise<EnrolledBox[]> {
    const ids = await this.redis.zrevrange(this.keys.boxes, 0, 9999);
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hgetall(this.keys.box(id));
    const rows = repliesOf(await pipe.exec());
    return ids.flatMap((id, i) => {
      const h = stringHash(rows[i]);
      if (!h.PUBLIC_KEY) return [];
      const box: EnrolledBox = {
        ID: id,
        STATE: h.STATE === 'revoked' ? 'revoked' : 'enrolled',
        FINGERPRINT: keyFingerprint(h.PUBLIC_KEY),
        TOKEN: h.TOKEN ?? '',
        ENROLLED_AT: Number(h.ENROLLED_AT ?? 0),
        IP: h.IP ?? '',
      };
      if (h.REVOKED_AT) box.REVOKED_AT = Number(h.REVOKED_AT);
      if (h.REQUESTED_KEY) {
        box.REQUESTED = { FINGERPRINT: keyFingerprint(h.REQUESTED_KEY), AT: Number(h.REQUESTED_AT ?? 0), IP: h.REQUESTED_IP ?? '', APPROVED: h.APPROVED_KEY === h.REQUESTED_KEY };
      }
      return [box];
    });
  }

  /** Remember a box that tried and was refused, with why, for the dashboard's "pending" list. */
  async notePending(p: Omit<PendingBox, 'SEEN'>): Promise<void> {
    const entry: PendingBox = { ...p, SEEN: this.nowS() };
    await this.redis.hset(this.keys.pending, p.ID, JSON.stringify(entry));
    if ((await this.redis.hlen(this.keys.pending)) > MAX_PENDING) {
      const all = await this.listPending();
      const drop = all.slice(MAX_PENDING).map((x) => x.ID);
      if (drop.length) await this.redis.hdel(this.keys.pending, ...drop);
    }
  }

  /** Newest first. */
  async listPending(): Promise<PendingBox[]> {
    const raw = await this.redis.hgetall(this.keys.pending);
    const out: PendingBox[] = [];
    for (const [id, text] of Object.entries(raw)) out.push(decodePendingBox(id, text) ?? { ID: id, SEEN: 0, IP: '', REASON: 'unreadable record' });
    return out.sort((a, b) => b.SEEN - a.SEEN);
  }
}

/** A stored pending entry (written by notePending), or undefined when it is not one. */
export function decodePendingBox(id: string, text: string): PendingBox | undefined {
  let raw: unknown;
  try {
    raw = parseJsonSafe(text);
  } catch {
    return undefined;
  }
  if (!isRecord(raw) || typeof raw.SEEN !== 'number' || typeof raw.IP !== 'string' || typeof raw.REASON !== 'string') return undefined;
  const box: PendingBox = { ID: id, SEEN: raw.SEEN, IP: raw.IP, REASON: raw.REASON };
  if (typeof raw.FINGERPRINT === 'string') box.FINGERPRINT = raw.FINGERPRINT;
  return box;
}
