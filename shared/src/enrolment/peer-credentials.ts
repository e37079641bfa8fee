/**
 * A peer's side of enrolment (docs/enrolment.md), the same for a box and a publisher: before each WebSocket
 * upgrade it fetches a challenge and signs it; when the entrance says the peer is not enrolled it presents
 * ENROLMENT_TOKEN (a box's fleet token, a publisher's account token) once with its public key. Entrances
 * that predate enrolment (no challenge endpoint) get a plain upgrade, as the original protocol had. The
 * challenge reply's Date header also tells how wrong the peer's clock is.
 */
import type { KeyObject } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { AUTH_HEADERS, connectPayload, idHeaderFor, enrolPayload, enrolmentUrl, keyFingerprint, publicKeyText, signPayload } from '../enrolment/codec.js';
import { httpRequest } from '../http-request.js';
import type { HttpReply } from '../http-request.js';
import { errnoOf, messageOf } from '../protocol/errors.js';
import { isRecord, parseJsonSafe } from '../protocol/json.js';

const REQUEST_TIMEOUT_MS = 10_000;
/** Replies here are tiny; a longer one is not read as JSON. */
const MAX_REPLY_BYTES = 16 * 1024;

export type EnrolResult = { ok: true } | { ok: false; code: string; reason: string };

export class EntranceHttpError extends Error {
  override name = 'EntranceHttpError';
}

export class PeerCredentials {
  private readonly publicKey: string;
  /** Entrance clock minus this peer's clock (ms), from the last challenge's Date header. */
  clockSkewMs: number | undefined;

  constructor(
    /** A box ID or a publisher ID. */
    private readonly peerId: string,
    private readonly key: KeyObject,
    private readonly token: string | undefined,
    /** The fleet public keys an enrolment answer carries, for the box to pin (enrolment with grants). */
    private readonly onFleetKeys?: (keys: Record<string, string>) => Promise<void>,
  ) {
    this.publicKey = publicKeyText(key);
  }

  get hasToken(): boolean {
    return this.token !== undefined;
  }

  /** The key's short name, as the entrance's operator sees it (a box shows it on its status page while it waits for approval). */
  get fingerprint(): string {
    return keyFingerprint(this.publicKey);
  }

  /** Headers proving this peer's key for one upgrade, or undefined for an entrance without enrolment. */
  async upgradeHeaders(wsUrl: string): Promise<Record<string, string> | undefined> {
    const nonce = await this.challenge(wsUrl);
    if (nonce === undefined) return undefined;
    return {
      [idHeaderFor(this.peerId)]: this.peerId,
      [AUTH_HEADERS.nonce]: nonce,
      [AUTH_HEADERS.signature]: signPayload(this.key, connectPayload(this.peerId, nonce)),
    };
  }

  async enrol(wsUrl: string): Promise<EnrolResult> {
    if (this.token === undefined) return { ok: false, code: 'E_TOKEN', reason: 'no ENROLMENT_TOKEN in the config' };
    const nonce = await this.challenge(wsUrl);
    if (nonce === undefined) return { ok: false, code: 'E_FORMAT', reason: 'the entrance has no enrolment endpoint' };
    const body = JSON.stringify({
      ID: this.peerId,
      PUBLIC_KEY: this.publicKey,
      TOKEN: this.token,
      NONCE: nonce,
      SIGNATURE: signPayload(this.key, enrolPayload(this.peerId, nonce, this.publicKey)),
    });
    const res = await request(enrolmentUrl(wsUrl, 'enrol'), { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const reply = jsonOf(res);
    if (res.ok) {
      const fleetKeys = stringRecordOf(reply.FLEET_KEYS);
      if (fleetKeys !== undefined) await this.onFleetKeys?.(fleetKeys);
      return { ok: true };
    }
    return { ok: false, code: typeof reply.ERROR_CODE === 'string' ? reply.ERROR_CODE : `HTTP ${res.status}`, reason: typeof reply.ERROR === 'string' ? reply.ERROR.slice(0, 200) : res.statusText };
  }

  private async challenge(wsUrl: string): Promise<string | undefined> {
    const res = await request(enrolmentUrl(wsUrl, 'challenge'), { method: 'GET' });
    const date = Date.parse(res.headers.date ?? '');
    if (Number.isFinite(date)) this.clockSkewMs = date - Date.now();
    if (res.status === 404) return undefined;
    const reply = jsonOf(res);
    if (!res.ok) throw new EntranceHttpError(`challenge: HTTP ${res.status}${typeof reply.ERROR === 'string' ? `: ${reply.ERROR.slice(0, 200)}` : ''}`);
    if (typeof reply.NONCE !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(reply.NONCE)) throw new EntranceHttpError('challenge: the reply has no usable NONCE');
    return reply.NONCE;
  }
}

async function request(url: string, init: { method: string; headers?: Record<string, string>; body?: string }): Promise<HttpReply> {
  try {
    return await httpRequest(url, { ...init, timeoutMs: REQUEST_TIMEOUT_MS, maxBodyBytes: MAX_REPLY_BYTES });
  } catch (err) {
    throw new EntranceHttpError(`${new URL(url).host} unreachable: ${errnoOf(err) ?? messageOf(err)}`);
  }
}

/** A JSON object of strings (FLEET_KEYS: key ID → public key text), or undefined; each key is checked where it is pinned. */
function stringRecordOf(value: unknown): Record<string, string> | undefined {
  if (!isRecord(value)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = v;
  return out;
}

/** The reply's JSON object, or {} when it is not one (bounded: replies here are tiny). */
function jsonOf(res: HttpReply): Record<string, unknown> {
  if (res.truncated) return {};
  try {
    const v = parseJsonSafe(res.text);
    return isRecord(v) ? v : {};
  } catch {
    return {}; // not JSON: the status code alone speaks
  }
}

/** A refused upgrade's JSON body (the entrance's {ERROR, ERROR_CODE}); {} when there is none. */
export function refusalBody(res: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (): void => {
      clearTimeout(timer);
      try {
        const v = parseJsonSafe(Buffer.concat(chunks).toString('utf8'));
        resolve(isRecord(v) ? v : {});
      } catch {
        resolve({}); // no JSON body: the status code alone speaks
      }
    };
    const timer = setTimeout(done, 5_000);
    res.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 16 * 1024) chunks.push(c);
    });
    res.on('end', done);
    res.on('error', done);
  });
}
