/**
 * Password and token hashes: scrypt with a random salt, written as
 * `scrypt$<N>$<r>$<p>$<salt base64>$<hash base64>` so the cost can be raised later without breaking
 * old hashes. Verification is constant-time. `dandelion hash-password` prints one.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import type { ScryptOptions } from 'node:crypto';

const N = 16384;
const R = 8;
const P = 1;
const KEY_BYTES = 32;
const FORMAT = /^scrypt\$(\d{1,7})\$(\d{1,3})\$(\d{1,3})\$([A-Za-z0-9+/]{16,}={0,2})\$([A-Za-z0-9+/]{40,}={0,2})$/;

function scrypt(secret: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(secret, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

export function isPasswordHash(s: string): boolean {
  return FORMAT.test(s);
}

export async function hashPassword(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(secret, salt, KEY_BYTES, { N, r: R, p: P, maxmem: 64 * 1024 * 1024 });
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(secret: string, hash: string): Promise<boolean> {
  const [, nText, rText, pText, salt, digest] = FORMAT.exec(hash) ?? [];
  if (salt === undefined || digest === undefined) return false;
  const [n, r, p] = [Number(nText), Number(rText), Number(pText)];
  const expected = Buffer.from(digest, 'base64');
  const key = await scrypt(secret, Buffer.from(salt, 'base64'), expected.length, { N: n, r, p, maxmem: 256 * 1024 * 1024 }).catch(() => undefined);
  return key !== undefined && key.length === expected.length && timingSafeEqual(key, expected);
}
