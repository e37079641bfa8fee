/**
 * How many certificates one box may order: CERTIFY_PER_HOUR in a fixed hour counted fleet-wide in Redis
 * (a box cannot spend more by asking several entrances), and one order at a time at each entrance. A box
 * renews at 2/3 of a certificate's life, so it needs one an hour only when something is wrong; the CA's own
 * limits (Let's Encrypt: 50 certificates per registered domain a week) are what this protects.
 */
import type { Redis } from 'ioredis';
import { acmeKeys } from '../../../shared/src/redis-keys.js';
import { execOrThrow } from '../../../shared/src/redis.js';

export const CERTIFY_PER_HOUR = 5;
const WINDOW_SECONDS = 3600;

export class CertifyRate {
  private readonly running = new Set<string>();

  constructor(private readonly redis: Redis) {}

  /**
   * Take one order for `boxId`: undefined when it may order now (call the returned release when done),
   * else why not.
   */
  async take(boxId: string): Promise<{ release(): void } | string> {
    if (this.running.has(boxId)) return 'a CERTIFY for this box is already running; wait for its reply';
    const key = acmeKeys().certifyCount(boxId);
    const rows = await execOrThrow(this.redis.multi().set(key, 0, 'EX', WINDOW_SECONDS, 'NX').incr(key).exec());
    if (Number(rows[1]?.[1]) > CERTIFY_PER_HOUR) return `at most ${CERTIFY_PER_HOUR} CERTIFY an hour for one box; try again later`;
    this.running.add(boxId);
    return { release: () => this.running.delete(boxId) };
  }
}
