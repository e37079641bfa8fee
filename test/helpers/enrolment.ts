/**
 * A box's (or publisher's) side of enrolment for tests, against a real entrance: fetch a challenge, enrol a key with a
 * fleet token (optionally with the old key's rotation signature), and open a socket with a signed
 * challenge, seeing either the open socket or the entrance's refusal (status and JSON body).
 */
import type { KeyObject } from 'node:crypto';
import { generateKeyPairSync } from 'node:crypto';
import { WebSocket } from 'ws';
import { PeerCredentials } from '../../shared/src/enrolment/peer-credentials.js';
import { silentLogger } from '../../shared/src/log.js';
import { connectRedis } from '../../shared/src/redis.js';
import { EnrolmentStore } from '../../entrance/src/enrolment/store.js';
import { AUTH_HEADERS, connectPayload, enrolPayload, enrolmentUrl, idHeaderFor, publicKeyText, rotatePayload, signPayload } from '../../shared/src/enrolment/codec.js';

export const newKey = (): KeyObject => generateKeyPairSync('ed25519').privateKey;

export async function challenge(wsUrl: string): Promise<string> {
  const res = await fetch(enrolmentUrl(wsUrl, 'challenge'));
  const body = (await res.json()) as { NONCE: string };
  return body.NONCE;
}

/** POST …/enrol for `boxId` with `key`; `oldKey` adds its ROTATION_SIGNATURE over the new key. */
export async function enrol(wsUrl: string, boxId: string, key: KeyObject, token: string, oldKey?: KeyObject): Promise<{ status: number; body: Record<string, unknown> }> {
  const nonce = await challenge(wsUrl);
  const publicKey = publicKeyText(key);
  const request: Record<string, string> = { ID: boxId, PUBLIC_KEY: publicKey, TOKEN: token, NONCE: nonce, SIGNATURE: signPayload(key, enrolPayload(boxId, nonce, publicKey)) };
  if (oldKey) request.ROTATION_SIGNATURE = signPayload(oldKey, rotatePayload(boxId, nonce, publicKey));
  const res = await fetch(enrolmentUrl(wsUrl, 'enrol'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

export async function signedHeaders(wsUrl: string, boxId: string, key: KeyObject): Promise<Record<string, string>> {
  const nonce = await challenge(wsUrl);
  return { [idHeaderFor(boxId)]: boxId, [AUTH_HEADERS.nonce]: nonce, [AUTH_HEADERS.signature]: signPayload(key, connectPayload(boxId, nonce)) };
}

export type Upgrade = { ok: true; ws: WebSocket; next(): Promise<Record<string, unknown>>; closed: Promise<number> } | { ok: false; status: number; body: Record<string, unknown> };

/** Open a socket with `headers`; either it opens, or the entrance's refusal (status and JSON body). */
export function upgrade(wsUrl: string, headers: Record<string, string>): Promise<Upgrade> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, { headers });
    const queue: Array<Record<string, unknown>> = [];
    const waiters: Array<(m: Record<string, unknown>) => void> = [];
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as Record<string, unknown>;
      const w = waiters.shift();
      if (w) w(m);
      else queue.push(m);
    });
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    ws.on('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => {
        ws.terminate();
        resolve({ ok: false, status: res.statusCode ?? 0, body: JSON.parse(text || '{}') as Record<string, unknown> });
      });
    });
    ws.on('error', (err) => {
      if (ws.readyState !== WebSocket.CLOSED) reject(err);
    });
    ws.on('open', () =>
      resolve({
        ok: true,
        ws,
        closed,
        next: () => new Promise((r) => (queue.length ? r(queue.shift() as Record<string, unknown>) : waiters.push(r))),
      }),
    );
  });
}

export async function ask(u: Upgrade, msg: Record<string, unknown>): Promise<Record<string, unknown>> {
  if (!u.ok) throw new Error(`upgrade refused: ${u.status}`);
  u.ws.send(JSON.stringify(msg));
  return u.next();
}

/** Enrol `boxId` with a fresh fleet token through the entrance's own endpoint, as the agent does. */
export async function enrolledBox(redisUrl: string, wsUrl: string, boxId: string): Promise<PeerCredentials> {
  const client = await connectRedis({ REDIS_URL: redisUrl, REDIS_HOST: '', REDIS_PORT: 0, DB: 0 }, silentLogger());
  const { token } = await new EnrolmentStore(client).createToken({ expiresInSeconds: 600, maxUses: 1 });
  client.disconnect();
  const creds = new PeerCredentials(boxId, newKey(), token);
  const result = await creds.enrol(wsUrl);
  if (!result.ok) throw new Error(`enrolment failed: ${result.code} ${result.reason}`);
  return creds;
}
