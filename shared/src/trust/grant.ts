/**
 * Grants: what lets a publisher store files on a box. The entrance signs one into each authenticated SEARCH
 * reply with its fleet key; a box checks it against the fleet public keys it learnt in EXCHANGE replies,
 * with no call to the entrance, so a box keeps taking a live stream while the entrance is unreachable and a
 * stranger who reaches the box directly has nothing to show.
 *
 * Wire form, one opaque line a publisher passes on unread:
 *   <base64url of the grant's JSON>.<base64url of the Ed25519 signature over GRANT_PURPOSE + the first part>
 * The purpose prefix keeps a grant signature from ever being accepted as any other signed text.
 */
import { createHash, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { isIdOf } from '../protocol/messages.js';
import { isRecord, parseJsonSafe } from '../protocol/json.js';
import { Limits } from '../protocol/fields.js';

const GRANT_PURPOSE = 'dandelion-grant-v1\n';
export const MAX_GRANT_CHARS = Limits.grantChars;
/** A box whose clock runs this far behind the entrance's still takes a grant issued "in the future". */
const CLOCK_SKEW_SECONDS = 300;

export interface Grant {
  /** The publisher the box stores files for: files go under this ID, whatever the socket claims. */
  PUBLISHER: string;
  /** Unix seconds when the entrance signed it. */
  ISSUED: number;
  /** Unix seconds after which a box refuses it. */
  EXPIRES: number;
  /** Bytes this publisher may store on one box (0: no limit). */
  QUOTA_BYTES: number;
  /** Which fleet key signed it (keyIdOf its public key), so keys can rotate. */
  KEY_ID: string;
}

export type GrantCheck = { ok: true; grant: Grant } | { ok: false; reason: string };

/** A short, stable name for a fleet public key (its text as publicKeyText in enrolment/codec.ts writes it). */
export function keyIdOf(publicKeyText: string): string {
  return createHash('sha256').update(Buffer.from(publicKeyText, 'base64')).digest('base64url').slice(0, 16);
}

export function signGrant(grant: Grant, key: KeyObject): string {
  const body = Buffer.from(JSON.stringify(grant), 'utf8').toString('base64url');
  const signature = sign(null, Buffer.from(GRANT_PURPOSE + body, 'utf8'), key).toString('base64url');
  return `${body}.${signature}`;
}

/**
 * The grant in `text` when a key of `keys` signed it and it has not expired at `nowSeconds`; otherwise the
 * reason it is refused, in words a publisher's operator can act on.
 */
export function verifyGrant(text: unknown, keys: ReadonlyMap<string, KeyObject>, nowSeconds: number): GrantCheck {
  if (typeof text !== 'string' || text === '') return { ok: false, reason: 'no grant: search at the entrance for a grant first' };
  if (text.length > MAX_GRANT_CHARS) return { ok: false, reason: `a grant is at most ${MAX_GRANT_CHARS} characters` };
  const [body, signature, extra] = text.split('.');
  if (body === undefined || signature === undefined || extra !== undefined || !/^[A-Za-z0-9_-]+$/.test(body + signature)) {
    return { ok: false, reason: 'the grant is not of the form <body>.<signature>' };
  }
  const grant = decodeGrantBody(body);
  if (grant === undefined) return { ok: false, reason: 'the grant does not hold PUBLISHER, ISSUED, EXPIRES, QUOTA_BYTES and KEY_ID' };
  const key = keys.get(grant.KEY_ID);
  if (key === undefined) return { ok: false, reason: `the grant is signed by key ${grant.KEY_ID}, which this box does not know` };
  if (!verify(null, Buffer.from(GRANT_PURPOSE + body, 'utf8'), key, Buffer.from(signature, 'base64url'))) {
    return { ok: false, reason: 'the grant signature does not verify' };
  }
  if (grant.EXPIRES <= nowSeconds) return { ok: false, reason: `the grant expired ${nowSeconds - grant.EXPIRES} s ago: search again for a fresh one` };
  if (grant.ISSUED > nowSeconds + CLOCK_SKEW_SECONDS) return { ok: false, reason: 'the grant is issued in the future: check the clocks' };
  return { ok: true, grant };
}

function decodeGrantBody(body: string): Grant | undefined {
  let doc: unknown;
  try {
    doc = parseJsonSafe(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    return undefined; // not JSON: the caller's refusal says what a grant holds
  }
  if (!isRecord(doc)) return undefined;
  const { PUBLISHER, ISSUED, EXPIRES, QUOTA_BYTES, KEY_ID } = doc;
  if (typeof PUBLISHER !== 'string' || !isIdOf(PUBLISHER, 'PUBLISHER')) return undefined;
  if (typeof KEY_ID !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(KEY_ID)) return undefined;
  if (!isCount(ISSUED) || !isCount(EXPIRES) || !isCount(QUOTA_BYTES)) return undefined;
  return { PUBLISHER, ISSUED, EXPIRES, QUOTA_BYTES, KEY_ID };
}

function isCount(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}
