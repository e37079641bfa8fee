/**
 * The ACME account key, one for the fleet, in Redis: the first entrance that orders creates it (SET NX),
 * every other reads that one, so all entrances order under one account and the CA's per-account limits
 * and contact apply once.
 */
import type { Redis } from 'ioredis';
import acme from 'acme-client';
import { acmeKeys } from '../../../shared/src/redis-keys.js';

export async function acmeAccountKey(redis: Redis): Promise<string> {
  const key = acmeKeys().accountKey;
  const existing = await redis.get(key);
  if (existing !== null) return existing;
  // P-256: made in a millisecond, where an RSA key would hold the first CERTIFY for a second on a small entrance.
  const created = (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
  await redis.set(key, created, 'NX');
  const stored = await redis.get(key);
  if (stored === null) throw new Error(`${key} vanished right after it was set`);
  return stored;
}
