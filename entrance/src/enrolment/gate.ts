/**
 * Where boxes and publishers prove who they are (docs/enrolment.md), one gate for both kinds of peer:
 *   GET  <ws path>/challenge  → {NONCE, EXPIRES_IN}: a single-use nonce;
 *   POST <ws path>/enrol      {ID, PUBLIC_KEY, TOKEN, NONCE, SIGNATURE[, ROTATION_SIGNATURE]}: a box's fleet token
 *                             (or a publisher's account token) enrols the key; a new key for an enrolled box ID
 *                             needs the old key's ROTATION_SIGNATURE or an operator's approval (until then it is
 *                             refused 409 E_PENDING and listed as pending); a publisher's token replaces its key;
 *   the WebSocket upgrade with X-Dandelion-Box (or -Publisher), -Nonce and -Signature proves the peer holds its
 *   enrolled key.
 * An upgrade without those headers is anonymous: boxes may connect that way only with REQUIRE_ENROLMENT false,
 * publishers only with REQUIRE_PUBLISHER_AUTH false. No secret crosses the wire after enrolment, and a nonce
 * works once.
 */
import type { IncomingMessage } from 'node:http';
import { HttpError } from '../../../shared/src/http-app.js';
import type { ErrorCode } from '../../../shared/src/protocol/errors.js';
import { isIdOf } from '../../../shared/src/protocol/index.js';
import { AUTH_HEADERS, ENROL_PATH, connectPayload, enrolPayload, keyFingerprint, parseFleetToken, parsePublicKey, parsePublisherToken, rotatePayload, verifyPayload } from '../../../shared/src/enrolment/codec.js';
import type { Logger } from '../../../shared/src/log.js';
import type { PublisherAccounts } from '../publishers/accounts.js';
import type { Challenges } from './challenge.js';
import type { EnrolmentStore } from './store.js';

/** An accepted upgrade names the box or publisher it proved to be (none: an anonymous peer), or a refusal. */
export type UpgradeAuth = { ok: true; peerId?: string } | { ok: false; status: number; code: ErrorCode; message: string };
type Refusal = Extract<UpgradeAuth, { ok: false }>;

export interface GateDeps {
  store: EnrolmentStore;
  publishers: PublisherAccounts;
  challenges: Challenges;
  requireEnrolment: boolean;
  requirePublisherAuth: boolean;
  /** The WebSocket path without its trailing slash. */
  wsPath: string;
  log: Logger;
}

/** An enrolment request: every field a non-empty string (enrolment/routes.ts's schema says so). */
export interface EnrolRequest {
  ID: string;
  PUBLIC_KEY: string;
  TOKEN: string;
  NONCE: string;
  SIGNATURE: string;
  /** The enrolled (old) key's signature over rotatePayload: a key rotation, which needs no operator. */
  ROTATION_SIGNATURE?: string;
}

/** The reason a re-flashed box (or a hijack attempt) is listed as pending. */
export const NEW_KEY_REASON = 're-flashed box: new key for an enrolled ID (approve the new key, or forget the box)';

/** What a box is told when it enrolled. */
export interface Enrolled {
  ID: string;
  ENROLLED: true;
  DETAIL: string;
  FINGERPRINT: string;
}

export class EnrolmentGate {
  private readonly enrolPath: string;

  constructor(private readonly deps: GateDeps) {
    this.enrolPath = `${deps.wsPath}/${ENROL_PATH}`;
  }

  /** A single-use nonce for the next enrolment or upgrade, and whether this entrance requires enrolment. */
  challenge(): { NONCE: string; EXPIRES_IN: number; REQUIRE_ENROLMENT: boolean } {
    const { nonce, expiresIn } = this.deps.challenges.issue();
    return { NONCE: nonce, EXPIRES_IN: expiresIn, REQUIRE_ENROLMENT: this.deps.requireEnrolment };
  }

  /** Enrol a box's key with a fleet token (a publisher's with its account token), or throw the refusal the peer is told. */
  async enrol(request: EnrolRequest, remoteIp: string): Promise<Enrolled> {
    if (isIdOf(request.ID, 'PUBLISHER')) return this.enrolPublisher(request, remoteIp);
    if (!isIdOf(request.ID, 'BOX')) throw refuse(400, 'E_ID', 'ID must be a box ID (box-…) or a publisher ID (publisher-…)');
    const parsedToken = parseFleetToken(request.TOKEN);
    if (!parsedToken) throw refuse(403, 'E_TOKEN', 'TOKEN is not a fleet token (dlt_…)');
    await this.proveKey(request);
    const { ID: boxId, PUBLIC_KEY: publicKey, NONCE: nonce } = request;
    const rotatedFrom = request.ROTATION_SIGNATURE === undefined ? undefined : await this.rotationSigner(boxId, nonce, publicKey, request.ROTATION_SIGNATURE);
    const result = await this.deps.store.enrol({ boxId, publicKey, ...parsedToken, ip: remoteIp, ...(rotatedFrom === undefined ? {} : { rotatedFrom }) });
    const fingerprint = keyFingerprint(publicKey);
    if (!result.ok) {
      this.deps.log.warn({ box: boxId, ip: remoteIp, reason: result.detail, fingerprint }, 'enrolment refused');
      if (result.code === 'E_TOKEN') await this.deps.store.notePending({ ID: boxId, IP: remoteIp, REASON: result.detail, FINGERPRINT: fingerprint });
      if (result.code === 'E_PENDING') {
        await this.deps.store.notePending({ ID: boxId, IP: remoteIp, REASON: NEW_KEY_REASON, FINGERPRINT: fingerprint });
        throw refuse(409, 'E_PENDING', result.detail);
      }
      throw refuse(403, result.code, result.detail);
    }
    this.deps.log.info({ box: boxId, ip: remoteIp, token: parsedToken.tokenId, fingerprint, detail: result.detail }, 'box enrolled');
    return { ID: boxId, ENROLLED: true, DETAIL: result.detail, FINGERPRINT: fingerprint };
  }

  /** A publisher's enrolment: its account token, which names the publisher it is for. */
  private async enrolPublisher(request: EnrolRequest, remoteIp: string): Promise<Enrolled> {
    const { ID: publisherId, PUBLIC_KEY: publicKey } = request;
    const parsedToken = parsePublisherToken(request.TOKEN);
    if (!parsedToken) throw refuse(403, 'E_TOKEN', 'TOKEN is not a publisher token (dlp_…)');
    if (parsedToken.publisherId !== publisherId) throw refuse(403, 'E_TOKEN', `this token is ${parsedToken.publisherId}'s: set ID to it or leave ID out of the publisher's config`);
    await this.proveKey(request);
    const result = await this.deps.publishers.enrol({ publisherId, publicKey, secretHash: parsedToken.secretHash, ip: remoteIp });
    const fingerprint = keyFingerprint(publicKey);
    if (!result.ok) {
      this.deps.log.warn({ publisher: publisherId, ip: remoteIp, reason: result.detail, fingerprint }, 'publisher enrolment refused');
      throw refuse(403, result.code, result.detail);
    }
    this.deps.log.info({ publisher: publisherId, ip: remoteIp, fingerprint, detail: result.detail }, 'publisher enrolled');
    return { ID: publisherId, ENROLLED: true, DETAIL: result.detail, FINGERPRINT: fingerprint };
  }

  /** The request's key is an Ed25519 key and signed this (fresh, now used) nonce: the peer holds the key it presents. */
  private async proveKey({ ID: peerId, PUBLIC_KEY: publicKey, NONCE: nonce, SIGNATURE: signature }: EnrolRequest): Promise<void> {
    const key = parsePublicKey(publicKey);
    if (!key) throw refuse(400, 'E_FORMAT', 'PUBLIC_KEY must be an Ed25519 public key: base64 of its SPKI DER');
    const nonceCheck = await this.deps.challenges.redeem(nonce);
    if (nonceCheck !== 'ok') throw refuse(401, 'E_AUTH', `NONCE ${nonceCheck}: fetch a fresh challenge`);
    if (!verifyPayload(key, enrolPayload(peerId, nonce, publicKey), signature)) throw refuse(401, 'E_AUTH', 'SIGNATURE does not match PUBLIC_KEY');
  }

  /**
   * The enrolled key that signed this rotation, or a refusal: a rotation signature that the box's enrolled
   * key did not make is a forgery (or a stale key) and is refused outright rather than queued for an operator.
   */
  private async rotationSigner(boxId: string, nonce: string, newKey: string, signature: string): Promise<string> {
    const record = await this.deps.store.boxRecord(boxId);
    const oldKey = record === undefined ? undefined : parsePublicKey(record.publicKey);
    if (record === undefined || oldKey === undefined || !verifyPayload(oldKey, rotatePayload(boxId, nonce, newKey), signature)) {
      throw new HttpError(401, 'E_AUTH', 'ROTATION_SIGNATURE is not the enrolled key\'s signature over the new key');
    }
    return record.publicKey;
  }

  /** Decide an upgrade from its headers: an authenticated box or publisher, an anonymous peer, or a refusal. */
  async authenticateUpgrade(req: IncomingMessage, remoteIp: string): Promise<UpgradeAuth> {
    const header = (name: string): string | undefined => {
      const v = req.headers[name];
      return typeof v === 'string' && v !== '' ? v : undefined;
    };
    const boxId = header(AUTH_HEADERS.box);
    const publisherId = header(AUTH_HEADERS.publisher);
    const nonce = header(AUTH_HEADERS.nonce);
    const signature = header(AUTH_HEADERS.signature);
    if (boxId === undefined && publisherId === undefined && nonce === undefined && signature === undefined) return { ok: true };
    const peerId = boxId ?? publisherId;
    if (peerId === undefined || (boxId !== undefined && publisherId !== undefined) || nonce === undefined || signature === undefined) {
      return { ok: false, status: 400, code: 'E_AUTH', message: `send one of ${AUTH_HEADERS.box} and ${AUTH_HEADERS.publisher}, with ${AUTH_HEADERS.nonce} and ${AUTH_HEADERS.signature}, or none` };
    }
    if (boxId !== undefined && !isIdOf(boxId, 'BOX')) return { ok: false, status: 400, code: 'E_ID', message: `${AUTH_HEADERS.box} must be a box ID` };
    if (publisherId !== undefined && !isIdOf(publisherId, 'PUBLISHER')) return { ok: false, status: 400, code: 'E_ID', message: `${AUTH_HEADERS.publisher} must be a publisher ID` };
    const nonceCheck = await this.deps.challenges.redeem(nonce);
    if (nonceCheck !== 'ok') return { ok: false, status: 401, code: 'E_AUTH', message: `nonce ${nonceCheck}: fetch a fresh challenge` };
    const enrolled = boxId !== undefined ? await this.boxKey(boxId, remoteIp) : await this.publisherKey(peerId);
    if (enrolled === 'anonymous') return { ok: true };
    if ('ok' in enrolled) return enrolled;
    const key = parsePublicKey(enrolled.publicKey);
    if (!key || !verifyPayload(key, connectPayload(peerId, nonce), signature)) {
      if (boxId !== undefined) await this.deps.store.notePending({ ID: boxId, IP: remoteIp, REASON: 'signature does not match the enrolled key (re-flashed card? enrol again with a fleet token)' });
      return { ok: false, status: 401, code: 'E_AUTH', message: `signature does not match the enrolled key: enrol again with ${boxId !== undefined ? 'a fleet token' : 'the publisher token'}` };
    }
    return { ok: true, peerId };
  }

  /** The enrolled key an upgrade as `boxId` must be signed with, 'anonymous' for an unknown box where enrolment is optional, or the refusal. */
  private async boxKey(boxId: string, remoteIp: string): Promise<{ publicKey: string } | 'anonymous' | Refusal> {
    const record = await this.deps.store.boxRecord(boxId);
    if (!record) {
      // Without enrolment required, a box with a key it never enrolled is just an original-protocol box.
      if (!this.deps.requireEnrolment) return 'anonymous';
      await this.deps.store.notePending({ ID: boxId, IP: remoteIp, REASON: 'not enrolled' });
      return { ok: false, status: 401, code: 'E_AUTH', message: `box not enrolled: POST a fleet token to ${this.enrolPath}` };
    }
    if (record.state === 'revoked') return { ok: false, status: 403, code: 'E_REVOKED', message: 'this box was revoked by an operator' };
    return record;
  }

  /** The same for a publisher: its account's enrolled key. */
  private async publisherKey(publisherId: string): Promise<{ publicKey: string } | 'anonymous' | Refusal> {
    const record = await this.deps.publishers.keyRecord(publisherId);
    if (record?.state === 'revoked') return { ok: false, status: 403, code: 'E_REVOKED', message: 'this publisher was revoked by an operator' };
    if (record) return record;
    if (!this.deps.requirePublisherAuth) return 'anonymous';
    return { ok: false, status: 401, code: 'E_AUTH', message: `publisher not enrolled: POST its publisher token (dandelion entrance publisher create) to ${this.enrolPath}` };
  }
}

function refuse(status: number, code: ErrorCode, error: string): HttpError {
  return new HttpError(status, code, error);
}
