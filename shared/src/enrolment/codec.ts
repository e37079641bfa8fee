/**
 * The one definition of what enrolment puts on the wire, shared by the entrance, the agent and the publisher
 * (docs/enrolment.md): the shapes of fleet tokens (boxes) and publisher tokens, the headers a peer proves its key
 * with at the WebSocket upgrade, the exact bytes it signs, and how its Ed25519 public key is written. Boxes and
 * publishers enrol and connect the same way; only the token that admits them differs. Each signed text starts with its purpose, so a signature
 * made to connect can never be replayed as one made to enrol, or the other way round.
 */
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

/** Fleet tokens look like `dlt_<12 hex: token ID>_<43 base64url: secret>`; only the ID and the secret's SHA-256 are stored. */
export const TOKEN_PREFIX = 'dlt_';
const TOKEN_RE = /^dlt_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

/**
 * Publisher tokens look like `dlp_<name>_<43 base64url: secret>`: the account's publisher ID is `publisher-<name>`,
 * so a publisher knows its ID from its token. Only the secret's SHA-256 is stored.
 */
export const PUBLISHER_TOKEN_PREFIX = 'dlp_';
// The secret has a fixed length, so the name ends where the last 44 characters begin, '_' in either or not.
const PUBLISHER_TOKEN_RE = /^dlp_([A-Za-z0-9_.-]{1,64})_([A-Za-z0-9_-]{43})$/;

/** Headers of an authenticated upgrade. Lower case, as Node hands them to the server. A peer names itself in one of `box` and `publisher`. */
export const AUTH_HEADERS = {
  box: 'x-dandelion-box',
  publisher: 'x-dandelion-publisher',
  nonce: 'x-dandelion-nonce',
  signature: 'x-dandelion-signature',
} as const;

/** The header a peer with this ID names itself in. */
export function idHeaderFor(peerId: string): typeof AUTH_HEADERS.box | typeof AUTH_HEADERS.publisher {
  return peerId.startsWith('publisher-') ? AUTH_HEADERS.publisher : AUTH_HEADERS.box;
}

/** Below the entrance's WebSocket path: GET …/challenge hands out a nonce, POST …/enrol enrols a box or a publisher. */
export const CHALLENGE_PATH = 'challenge';
export const ENROL_PATH = 'enrol';

export interface FleetToken {
  token: string;
  tokenId: string;
  /** Hex SHA-256 of the secret part: what the entrance keeps. */
  secretHash: string;
}

export function newFleetToken(): FleetToken {
  const tokenId = randomBytes(6).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { token: `${TOKEN_PREFIX}${tokenId}_${secret}`, tokenId, secretHash: hashSecret(secret) };
}

/** The token's ID and its secret's hash, or undefined when it is not a fleet token at all. */
export function parseFleetToken(token: string): { tokenId: string; secretHash: string } | undefined {
  const [, tokenId, secret] = TOKEN_RE.exec(token) ?? [];
  if (tokenId === undefined || secret === undefined) return undefined;
  return { tokenId, secretHash: hashSecret(secret) };
}

/** A publisher token for account `publisherId` (publisher-<name>). */
export function newPublisherToken(publisherId: string): { token: string; secretHash: string } {
  const secret = randomBytes(32).toString('base64url');
  return { token: `${PUBLISHER_TOKEN_PREFIX}${publisherId.slice('publisher-'.length)}_${secret}`, secretHash: hashSecret(secret) };
}

/** The publisher ID a publisher token is for and its secret's hash, or undefined when it is not a publisher token. */
export function parsePublisherToken(token: string): { publisherId: string; secretHash: string } | undefined {
  const [, name, secret] = PUBLISHER_TOKEN_RE.exec(token) ?? [];
  if (name === undefined || secret === undefined) return undefined;
  return { publisherId: `publisher-${name}`, secretHash: hashSecret(secret) };
}

// A 256-bit random secret needs no slow hash: nobody can guess it, and SHA-256 stops a Redis dump from being a token list.
function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** What a peer signs to open a socket as `peerId` (the ID's prefix says whether a box or a publisher). */
export function connectPayload(peerId: string, nonce: string): Buffer {
  return Buffer.from(`dandelion-connect-v1\n${peerId}\n${nonce}`, 'utf8');
}

/** What a peer signs to enrol `publicKey` as `boxId` (or a publisher ID): proof that it holds the private half. */
export function enrolPayload(boxId: string, nonce: string, publicKey: string): Buffer {
  return Buffer.from(`dandelion-enrol-v1\n${boxId}\n${nonce}\n${publicKey}`, 'utf8');
}

/**
 * What a box's OLD key signs to hand its ID to a new key (key rotation): sent as ROTATION_SIGNATURE beside
 * an enrolment of `newPublicKey`, with the same nonce, it re-enrols an enrolled ID without an operator.
 */
export function rotatePayload(boxId: string, nonce: string, newPublicKey: string): Buffer {
  return Buffer.from(`dandelion-rotate-v1\n${boxId}\n${nonce}\n${newPublicKey}`, 'utf8');
}

export function newBoxKey(): KeyObject {
  return generateKeyPairSync('ed25519').privateKey;
}

/** The public half as base64 of its SPKI DER (44 bytes for Ed25519): one short line, fine in JSON and Redis. */
export function publicKeyText(key: KeyObject): string {
  return createPublicKey(key).export({ format: 'der', type: 'spki' }).toString('base64');
}

/** An Ed25519 public key from its text, or undefined when the text is not one. */
export function parsePublicKey(text: string): KeyObject | undefined {
  if (text.length > 200 || !/^[A-Za-z0-9+/]+=*$/.test(text)) return undefined;
  try {
    const key = createPublicKey({ key: Buffer.from(text, 'base64'), format: 'der', type: 'spki' });
    return key.asymmetricKeyType === 'ed25519' ? key : undefined;
  } catch {
    return undefined; // not DER, or not a key: the caller refuses it
  }
}

/** Short, stable name of a key for logs and the dashboard. */
export function keyFingerprint(publicKey: string): string {
  return `SHA256:${createHash('sha256').update(Buffer.from(publicKey, 'base64')).digest('base64').replace(/=+$/, '').slice(0, 16)}`;
}

export function signPayload(key: KeyObject, payload: Buffer): string {
  return sign(null, payload, key).toString('base64');
}

export function verifyPayload(key: KeyObject, payload: Buffer, signature: string): boolean {
  if (signature.length > 200 || !/^[A-Za-z0-9+/]+=*$/.test(signature)) return false;
  try {
    return verify(null, payload, key, Buffer.from(signature, 'base64'));
  } catch {
    return false; // a malformed signature is a wrong one
  }
}

/** The entrance's HTTP endpoints for a WebSocket URL: ws→http, wss→https, same host and path plus the endpoint. */
export function enrolmentUrl(wsUrl: string, endpoint: typeof CHALLENGE_PATH | typeof ENROL_PATH): string {
  const url = new URL(wsUrl);
  url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/${endpoint}`;
  url.search = '';
  url.hash = '';
  return url.toString();
}
