/**
 * Challenges for the signed WebSocket upgrade. A nonce is stateless until it is answered: it carries its
 * own expiry and an HMAC under a fleet-wide secret, so handing them out costs Redis nothing (a flood of
 * challenge requests cannot fill it). Answering one marks it used (SET NX with the nonce's remaining life),
 * so each signed upgrade works exactly once.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';
import { enrolmentKeys } from '../../../shared/src/redis-keys.js';
import type { EnrolmentKeys } from '../../../shared/src/redis-keys.js';
import { keyLayoutOfClient } from '../../../shared/src/redis.js';

export const CHALLENGE_SECONDS = 60;
const MAC_BYTES = 16;

export type NonceCheck = 'ok' | 'malformed' | 'expired' | 'replayed';

export class Challenges {
  private secret: Buffer | undefined;
  private readonly keys: EnrolmentKeys;

  constructor(
    private readonly redis: Redis,
    private readonly now: () => number = Date.now,
  ) {
    this.keys = enrolmentKeys(keyLayoutOfClient(redis));
  }

  /** The shared secret: whichever entrance comes first creates it; the rest read it. */
  async load(): Promise<void> {
    await this.redis.set(this.keys.challengeSecret, randomBytes(32).toString('hex'), 'NX');
    const hex = await this.redis.get(this.keys.challengeSecret);
    if (!hex || !/^[0-9a-f]{64}$/.test(hex)) throw new Error(`${this.keys.challengeSecret} in Redis is not a 32-byte hex secret`);
    this.secret = Buffer.from(hex, 'hex');
  }

  issue(): { nonce: string; expiresIn: number } {
    const body = Buffer.alloc(4 + 16);
    body.writeUInt32BE(Math.floor(this.now() / 1000) + CHALLENGE_SECONDS, 0);
    randomBytes(16).copy(body, 4);
    return { nonce: Buffer.concat([body, this.mac(body)]).toString('base64url'), expiresIn: CHALLENGE_SECONDS };
  }

  /** Checks the nonce is ours and fresh, then consumes it. */
  async redeem(nonce: string): Promise<NonceCheck> {
    if (nonce.length > 64 || !/^[A-Za-z0-9_-]+$/.test(nonce)) return 'malformed';
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== 20 + MAC_BYTES) return 'malformed';
    const body = raw.subarray(0, 20);
    if (!timingSafeEqual(raw.subarray(20), this.mac(body))) return 'malformed';
    const remaining = body.readUInt32BE(0) - Math.floor(this.now() / 1000);
    if (remaining <= 0) return 'expired';
    const fresh = await this.redis.set(this.keys.usedNonce(nonce), '1', 'EX', remaining + 1, 'NX');
    return fresh === 'OK' ? 'ok' : 'replayed';
  }

  private mac(body: Buffer): Buffer {
    if (!this.secret) throw new Error('challenge secret not loaded');
    return createHmac('sha256', this.secret).update(body).digest().subarray(0, MAC_BYTES);
  }
}
