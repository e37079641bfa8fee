// The set of entrance links and what a refused upgrade means. Links are capped at MAX_ENTRANCES and
// never doubled; with none healthy a capacity test goes to the first. A refusal: revoked waits long and
// says so; another status, a stale nonce or no credentials leave the usual backoff; no token waits and
// says the box is not enrolled; with a token the box enrols (a small HTTP stand-in for the entrance's
// enrolment endpoints) and retries at once, or says why the token was refused.
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import t from 'tap';
import { silentLogger } from '../../../shared/src/log.js';
import { listenOn } from '../../../shared/src/listen.js';
import { PeerCredentials } from '../../../shared/src/enrolment/peer-credentials.js';
import { EntranceLinks, MAX_ENTRANCES, REVOKED_RETRY_MS, TOKEN_REFUSED_RETRY_MS, retryAfterRefusal } from '../../src/heartbeat/entrance-links.js';
import { boxStatusForTest } from '../../../test/helpers/box-status.js';

const BOX_ID = 'box-links';
const TOKEN = 'dlt_testtoken';
const key = generateKeyPairSync('ed25519').privateKey;

/** Answers the challenge with a nonce and the enrolment with `status` and `body`. */
async function enrolmentStandIn(t: { teardown(fn: () => unknown): void }, status: number, body: Record<string, unknown>): Promise<string> {
  const server = http.createServer((req, res) => {
    const reply = req.url?.endsWith('/challenge') ? { NONCE: 'nonce-1' } : body;
    res.writeHead(req.url?.endsWith('/challenge') ? 200 : status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(reply));
    req.resume();
  });
  const port = await listenOn(server, '127.0.0.1', 0);
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `ws://127.0.0.1:${port}/dandelion/ws/`;
}

function deps(t: { teardown(fn: () => Promise<void>): void }, credentials: PeerCredentials | undefined) {
  const boxStatus = boxStatusForTest(t, BOX_ID);
  return { credentials: () => credentials, boxStatus, log: silentLogger() };
}

t.test('refusals that need no enrolment', async (t) => {
  const url = 'ws://entrance.example/dandelion/ws/';
  const d = deps(t, new PeerCredentials(BOX_ID, key, undefined));
  t.equal(await retryAfterRefusal({ url, status: 403, body: { ERROR: 'this box is revoked', ERROR_CODE: 'E_REVOKED' } }, d), REVOKED_RETRY_MS);
  t.same(d.boxStatus.current, { code: 'revoked', detail: `${url}: this box is revoked` });
  t.equal(await retryAfterRefusal({ url, status: 503, body: {} }, d), undefined, 'another status: the usual backoff');
  t.equal(await retryAfterRefusal({ url, status: 401, body: { ERROR: 'stale nonce', ERROR_CODE: 'E_AUTH' } }, d), undefined, 'a stale nonce: try again');
  t.equal(await retryAfterRefusal({ url, status: 401, body: { ERROR_CODE: 'E_AUTH' } }, deps(t, undefined)), undefined, 'no credentials loaded yet');
  t.equal(await retryAfterRefusal({ url, status: 401, body: { ERROR: 'unknown box', ERROR_CODE: 'E_AUTH' } }, d), TOKEN_REFUSED_RETRY_MS, 'no token: wait for the operator');
  t.equal(d.boxStatus.current.code, 'not-enrolled');
});

t.test('enrolment with the token', async (t) => {
  const refused = { status: 401, body: { ERROR: 'unknown box', ERROR_CODE: 'E_AUTH' } };
  const ok = deps(t, new PeerCredentials(BOX_ID, key, TOKEN));
  t.equal(await retryAfterRefusal({ url: await enrolmentStandIn(t, 200, {}), ...refused }, ok), 0, 'enrolled: connect again at once');

  const bad = deps(t, new PeerCredentials(BOX_ID, key, TOKEN));
  const badUrl = await enrolmentStandIn(t, 403, { ERROR: 'token expired', ERROR_CODE: 'E_TOKEN' });
  t.equal(await retryAfterRefusal({ url: badUrl, ...refused }, bad), TOKEN_REFUSED_RETRY_MS);
  t.same(bad.boxStatus.current, { code: 'token-refused', detail: `${badUrl}: token expired` });

  const revoked = deps(t, new PeerCredentials(BOX_ID, key, TOKEN));
  t.equal(await retryAfterRefusal({ url: await enrolmentStandIn(t, 403, { ERROR: 'revoked', ERROR_CODE: 'E_REVOKED' }), ...refused }, revoked), REVOKED_RETRY_MS);
  t.equal(revoked.boxStatus.current.code, 'revoked');

  const waiting = deps(t, new PeerCredentials(BOX_ID, key, TOKEN));
  const waitingUrl = await enrolmentStandIn(t, 409, { ERROR: 'this box ID is enrolled with another key', ERROR_CODE: 'E_PENDING' });
  t.equal(await retryAfterRefusal({ url: waitingUrl, ...refused }, waiting), TOKEN_REFUSED_RETRY_MS, 'a new key for an enrolled ID: wait for the operator, then try again');
  t.equal(waiting.boxStatus.current.code, 'awaiting-approval');
  t.match(waiting.boxStatus.current.detail, /waiting for an operator to approve this box's new key/);

  const gone = deps(t, new PeerCredentials(BOX_ID, key, TOKEN));
  t.equal(await retryAfterRefusal({ url: 'ws://127.0.0.1:9/dandelion/ws/', ...refused }, gone), undefined, 'entrance unreachable during enrolment: the usual backoff');
  t.equal(gone.boxStatus.current.code, 'starting', 'and no verdict on the status page');
});

t.test('links are capped and never doubled; a capacity test picks the first when none is healthy', async (t) => {
  const links = new EntranceLinks({
    ...deps(t, undefined),
    periodMs: 60_000,
    buildExchange: () => Promise.reject(new Error('never reached: nothing listens')),
    onAccepted: async () => undefined,
  });
  t.teardown(() => links.stop());
  t.equal(links.pick(), undefined, 'no links yet');
  const url = (i: number): string => `ws://127.0.0.1:9/dandelion/ws/${i}`;
  for (let i = 0; i < MAX_ENTRANCES + 5; i++) links.add(url(i));
  links.add(url(0));
  t.equal(links.size, MAX_ENTRANCES);
  t.equal(links.healthyCount(), 0);
  t.equal(links.pick(), url(0));
});
