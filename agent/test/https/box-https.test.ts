// HTTPS on a box, end to end with a real nginx and a real CA (openssl, test-ca.ts) behind a stand-in for
// the entrance's CERTIFY answer: once the entrance names the box, the box's CSR names exactly BOX_NAME,
// nginx serves HTTPS on BOX_HTTPS_PORT with the issued chain (a client trusting only the test root
// connects by that name and gets the same bytes as over HTTP), the EXCHANGE announces HTTPS_URL and the
// status page the certificate's name and expiry. A renewal at 2/3 of the lifetime swaps the certificate
// for new connections while a download in flight finishes intact; a renewal the entrance refuses leaves
// the current certificate served. After a restart the stored certificate is served at once, before any
// entrance answers.
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import { startRedis } from '../../../test/helpers/redis.js';
import { eventually, startAgent } from '../../../test/helpers/agent.js';
import { startCertifyStandIn } from '../../../test/helpers/certify-stand-in.js';
import type { CertifyAnswer } from '../../../test/helpers/certify-stand-in.js';
import { createTestCa } from '../../../test/helpers/test-ca.js';

const DOMAIN = 'boxes.test';
const ca = createTestCa();

/** The certificate nginx presents to a client that asks for `name` and trusts only the test root (the handshake must verify). */
function servedCertificate(port: number, name: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: name, ca: ca.rootPem }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.destroy();
      if (cert) resolve(cert);
      else reject(new Error('no peer certificate'));
    });
    socket.once('error', reject);
  });
}

function httpsGet(port: number, name: string, file: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, servername: name, ca: ca.rootPem, path: file, headers: { host: name }, agent: false }, resolve).once('error', reject);
  });
}

async function readAll(res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

function putFile(baseDirectory: string, rel: string, bytes: Buffer): void {
  const file = path.join(baseDirectory, rel);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, bytes);
}

async function namedBox(t: { teardown(fn: () => unknown): void }, boxId: string, answer: (csr: string, n: number) => CertifyAnswer) {
  const standIn = await startCertifyStandIn(t, { domain: DOMAIN, answer });
  const redis = await startRedis(t);
  const box = await startAgent(t, { redisUrl: redis.url, entranceUrls: [standIn.url], boxId });
  return { standIn, redis, box, name: standIn.boxName(boxId) };
}

t.test('a named box is certified and serves HTTPS; a restart serves the stored certificate at once', async (t) => {
  const boxId = 'box-https1';
  const name = `${boxId}.${DOMAIN}`;
  const { standIn, redis, box } = await namedBox(t, boxId, (csr) => ({ chain: ca.issue(csr, { name, lifetimeSeconds: 86_400 }) }));
  const httpsUrl = await eventually(async () => (await box.agent.buildExchange()).HTTPS_URL);
  const port = box.agent.status().httpsPort;
  t.equal(httpsUrl, `https://${name}:${port}/`, 'HTTPS_URL names the box by its certificate\'s name');
  t.equal(standIn.csrs.length, 1);
  const csrText = execFileSync('openssl', ['req', '-noout', '-text', '-verify'], { input: standIn.csrs[0], stdio: ['pipe', 'pipe', 'pipe'] }).toString();
  t.same(csrText.match(/DNS:[^\s,]+/g), [`DNS:${name}`], 'the CSR names exactly BOX_NAME');
  t.ok(standIn.raw.every((m) => !m.includes('PRIVATE KEY')), 'no message carried the private key');

  const cert = await servedCertificate(port, name);
  t.equal(cert.subjectAltName, `DNS:${name}`, 'nginx serves the issued certificate, trusted through the test root');
  const bytes = randomBytes(256 * 1024);
  putFile(box.baseDirectory, 'publisher-https/live/seg-1.ts', bytes);
  const res = await httpsGet(port, name, '/publisher-https/live/seg-1.ts');
  t.equal(res.statusCode, 200);
  t.equal(res.headers['access-control-allow-origin'], '*', 'the same viewer location as the HTTP port');
  t.ok((await readAll(res)).equals(bytes), 'the bytes served over HTTPS are the file');
  const plain = await fetch(`${box.httpBase}/publisher-https/live/seg-1.ts`);
  t.ok(Buffer.from(await plain.arrayBuffer()).equals(bytes), 'and the HTTP port still serves it');

  const status = await eventually(() => {
    const s = JSON.parse(readFileSync(path.join(box.runDirectory, 'status', 'lan', 'status.json'), 'utf8')) as { HTTPS?: { NAME: string; NOT_AFTER: string } };
    return s.HTTPS;
  });
  t.equal(status?.NAME, name, 'the status page names the certificate');
  t.equal(status?.NOT_AFTER, new Date(Date.parse(cert.validTo)).toISOString(), 'and its expiry');

  await box.stop();
  const again = await startAgent(t, { redisUrl: redis.url, entranceUrls: ['ws://127.0.0.1:9/dandelion/ws/'], boxId, runDirectory: box.runDirectory });
  const port2 = again.agent.status().httpsPort;
  t.equal((await again.agent.buildExchange()).HTTPS_URL, `https://${name}:${port2}/`, 'announced from the start, no entrance needed');
  t.equal((await servedCertificate(port2, name)).fingerprint256, cert.fingerprint256, 'the stored certificate is served at once');
});

t.test('renewal at 2/3 of the lifetime swaps the certificate without failing a download in flight; a refused renewal keeps it', async (t) => {
  const boxId = 'box-https2';
  const name = `${boxId}.${DOMAIN}`;
  const LIFETIME_S = 12;
  const { standIn, box } = await namedBox(t, boxId, (csr, n) =>
    n <= 2 ? { chain: ca.issue(csr, { name, lifetimeSeconds: LIFETIME_S }) } : { error: 'the ACME order failed', code: 'E_ACME' });
  await eventually(async () => (await box.agent.buildExchange()).HTTPS_URL);
  const port = box.agent.status().httpsPort;
  const first = await servedCertificate(port, name);

  const big = randomBytes(24 * 1024 * 1024);
  putFile(box.baseDirectory, 'publisher-https/big.bin', big);
  const res = await httpsGet(port, name, '/publisher-https/big.bin');
  t.equal(res.statusCode, 200);
  // Read a little, then hold the download open (paused) until nginx serves the renewed certificate.
  const chunks: Buffer[] = [];
  let received = 0;
  await new Promise<void>((resolve) => {
    const onData = (c: Buffer): void => {
      chunks.push(c);
      received += c.length;
      if (received >= 1024 * 1024) {
        res.off('data', onData);
        res.pause();
        resolve();
      }
    };
    res.on('data', onData);
  });
  const renewed = await eventually(async () => {
    const now = await servedCertificate(port, name);
    return now.fingerprint256 !== first.fingerprint256 ? now : undefined;
  }, (LIFETIME_S + 10) * 1000, 250);
  t.ok(renewed, 'a new certificate is served to new connections');
  t.ok(renewed && Date.parse(renewed.validFrom) >= Date.parse(first.validFrom), 'a later one');
  const renewedAfterMs = Date.now() - Date.parse(first.validFrom);
  t.ok(renewedAfterMs >= (LIFETIME_S * 2 / 3 - 1) * 1000, `not before 2/3 of the lifetime (after ${renewedAfterMs} ms)`);
  t.ok(received < big.length, 'the download was still in flight during the renewal');
  res.resume();
  const rest = await readAll(res);
  const whole = Buffer.concat([...chunks, rest]);
  t.equal(whole.length, big.length, 'the download in flight finished');
  t.equal(createHash('sha256').update(whole).digest('hex'), createHash('sha256').update(big).digest('hex'), 'with every byte right');

  // The third request (the next renewal) is refused: the renewed certificate stays.
  const storedChain = readFileSync(path.join(box.runDirectory, 'https', 'box-tls-chain.pem'), 'utf8');
  await eventually(() => standIn.csrs.length >= 3, (LIFETIME_S + 10) * 1000, 250);
  t.equal(standIn.csrs.length, 3, 'renewal was asked for again');
  await new Promise((r) => setTimeout(r, 500));
  t.equal((await servedCertificate(port, name)).fingerprint256, renewed?.fingerprint256, 'the refused renewal left the current certificate served');
  t.equal(readFileSync(path.join(box.runDirectory, 'https', 'box-tls-chain.pem'), 'utf8'), storedChain, 'and stored');
  t.equal((await box.agent.buildExchange()).HTTPS_URL, `https://${name}:${port}/`, 'and announced');
});

t.test('HTTPS: off asks for no certificate, whatever the entrance says', async (t) => {
  const standIn = await startCertifyStandIn(t, { domain: DOMAIN, answer: () => ({ error: 'never asked', code: 'E_ACME' }) });
  const redis = await startRedis(t);
  const box = await startAgent(t, { redisUrl: redis.url, entranceUrls: [standIn.url], boxId: 'box-https3', env: { DANDELION_HTTPS: 'off' } });
  t.ok(await eventually(() => standIn.lastExchange.has('box-https3')), 'the box registers and is given a name');
  await new Promise((r) => setTimeout(r, 1_500)); // a few heartbeats
  t.equal(standIn.csrs.length, 0, 'no CERTIFY');
  t.equal(standIn.lastExchange.get('box-https3')?.HTTPS_URL, undefined, 'no HTTPS_URL');
  t.equal((await box.agent.buildExchange()).HTTPS_URL, undefined);
});
