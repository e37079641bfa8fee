/**
 * CERTIFY against a real ACME CA (Debian's pebble) that validates DNS-01 through the entrance's own DNS:
 * an enrolled box gets a chain that verifies up to pebble's root and names `<id>.<BOX_DOMAIN>`; a CSR for
 * another name, an unauthenticated socket, a box past its rate and a socket speaking for another box are refused.
 */
import { X509Certificate } from 'node:crypto';
import t from 'tap';
import type { Test } from 'tap';
import acme from 'acme-client';
import { freePort } from '../../shared/src/listen.js';
import { acmeKeys } from '../../shared/src/redis-keys.js';
import { CERTIFY_PER_HOUR } from '../../entrance/src/acme/certify-rate.js';
import { enrolledBox } from '../../test/helpers/enrolment.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { startPebble } from '../../test/helpers/pebble.js';
import type { Pebble, PebbleOptions } from '../../test/helpers/pebble.js';
import { startRedis } from '../../test/helpers/redis.js';
import type { RedisServer } from '../../test/helpers/redis.js';
import { connectPeer } from '../../test/helpers/ws-client.js';
import type { TestPeer } from '../../test/helpers/ws-client.js';

const DOMAIN = 'boxes.test';

interface Setup {
  redis: RedisServer;
  pebble: Pebble;
  url: string;
}

/** pebble needs the DNS port at its start and the entrance pebble's URL at its: the DNS port is chosen first. */
async function setup(t: Test, pebbleOptions: Omit<PebbleOptions, 'dnsServer'> = {}): Promise<Setup> {
  const redis = await startRedis(t);
  const dnsPort = await freePort();
  const pebble = await startPebble(t, { dnsServer: `127.0.0.1:${dnsPort}`, ...pebbleOptions });
  const entrance = await startEntrance(t, {
    redisUrl: redis.url,
    env: {
      DANDELION_BOX_DOMAIN: DOMAIN, DANDELION_DNS_BIND: '127.0.0.1', DANDELION_DNS_PORT: String(dnsPort),
      DANDELION_ACME_DIRECTORY_URL: pebble.directoryUrl, DANDELION_ACME_CA_FILE: pebble.apiCaFile,
    },
  });
  return { redis, pebble, url: entrance.url };
}

/** A socket that proved `boxId`'s enrolled key. */
async function enrolledSocket(t: Test, s: Setup, boxId: string): Promise<TestPeer> {
  const creds = await enrolledBox(s.redis.url, s.url, boxId);
  const headers = await creds.upgradeHeaders(s.url);
  if (headers === undefined) throw new Error('no upgrade headers');
  const peer = await connectPeer(s.url, { headers });
  t.teardown(() => peer.close());
  return peer;
}

async function csrFor(names: string[], key?: Buffer): Promise<string> {
  const [, csr] = await acme.crypto.createCsr({ commonName: names[0], altNames: names }, key ?? (await acme.crypto.createPrivateEcdsaKey()));
  return csr.toString();
}

const certify = (boxId: string, csr: string): Record<string, unknown> => ({ ID: boxId, IP: '127.0.0.1', PORT: 7071, TYPE: 'BOX', COMMAND: 'CERTIFY', CSR: csr });

/** The CSR with the last byte of its signature changed: it still parses, and no longer verifies. */
function withSignatureFlipped(pem: string): string {
  const der = Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  der[der.length - 1] = (der[der.length - 1] ?? 0) ^ 0x01;
  const body = der.toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE REQUEST-----\n${body}-----END CERTIFICATE REQUEST-----\n`;
}

/** The PEM certificates of a chain, leaf first. */
const certificatesOf = (chain: string): X509Certificate[] =>
  (chain.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []).map((pem) => new X509Certificate(pem));

t.test('an enrolled box gets a certificate for its name that verifies up to pebble\'s root', async (t) => {
  const s = await setup(t);
  const box = await enrolledSocket(t, s, 'box-alpha');
  const name = `box-alpha.${DOMAIN}`;
  const started = process.hrtime.bigint();
  const reply = await box.ask(certify('box-alpha', await csrFor([name])));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  t.comment(`CERTIFY answered in ${seconds.toFixed(2)} s (CSR check, ACME order, DNS-01 validation, issuance)`);
  t.equal(reply.ERROR, undefined, String(reply.ERROR ?? ''));
  t.equal(reply.COMMAND, 'CERTIFY');
  t.equal(reply.MESSAGE, 'ACCEPTED');
  const chain = certificatesOf(String(reply.CERTIFICATE));
  t.ok(chain.length >= 2, 'leaf and intermediate');
  const [leaf, ...intermediates] = chain;
  if (leaf === undefined) throw new Error('no leaf');
  const root = new X509Certificate(await s.pebble.issuerRoot());
  let child = leaf;
  for (const parent of [...intermediates, root]) {
    t.ok(child.verify(parent.publicKey), `${child.subject.trim()} is signed by ${parent.subject.trim()}`);
    child = parent;
  }
  t.equal(leaf.checkHost(name), name, 'the leaf names the box');
  t.equal(leaf.checkHost(`box-beta.${DOMAIN}`), undefined, 'and no other box');
  t.equal(reply.NOT_AFTER, Math.floor(new Date(leaf.validTo).getTime() / 1000), 'NOT_AFTER is the leaf\'s expiry');
  t.same(await s.redis.client().exists(acmeKeys().challenge(name)), 0, 'the TXT value is withdrawn after the order');
});

t.test('a CSR naming anything but the box\'s own name is refused before the CA is asked', async (t) => {
  const s = await setup(t);
  const box = await enrolledSocket(t, s, 'box-alpha');
  const cases: Array<[string, string]> = [
    ['another box\'s name', await csrFor([`box-beta.${DOMAIN}`])],
    ['its name and another', await csrFor([`box-alpha.${DOMAIN}`, `www.box-alpha.${DOMAIN}`])],
    ['a name outside the zone', await csrFor(['box-alpha.example.com'])],
    ['a 1024-bit RSA key', await csrFor([`box-alpha.${DOMAIN}`], await acme.crypto.createPrivateRsaKey(1024))],
    ['bytes that are no CSR', '-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgY3Ny\n-----END CERTIFICATE REQUEST-----\n'],
  ];
  for (const [what, csr] of cases) {
    const reply = await box.ask(certify('box-alpha', csr));
    t.equal(reply.ERROR_CODE, 'E_BAD_CSR', `${what}: E_BAD_CSR (${String(reply.ERROR)})`);
  }
  const tampered = await box.ask(certify('box-alpha', withSignatureFlipped(await csrFor([`box-alpha.${DOMAIN}`]))));
  t.equal(tampered.ERROR_CODE, 'E_BAD_CSR', 'a CSR whose signature does not verify: E_BAD_CSR');
  t.match(tampered.ERROR, /signature/);
  t.equal((await box.ask(certify('box-alpha', await csrFor([`BOX-ALPHA.${DOMAIN.toUpperCase()}`])))).MESSAGE, 'ACCEPTED', 'its own name in capitals is its own name');
});

t.test('CERTIFY needs an authenticated socket of that box', async (t) => {
  const s = await setup(t);
  await enrolledBox(s.redis.url, s.url, 'box-alpha');
  const anonymous = await connectPeer(s.url);
  t.teardown(() => anonymous.close());
  const reply = await anonymous.ask(certify('box-alpha', await csrFor([`box-alpha.${DOMAIN}`])));
  t.equal(reply.ERROR_CODE, 'E_AUTH', 'an anonymous socket: E_AUTH');
  t.equal((await anonymous.ask(certify('box-gamma', await csrFor([`box-gamma.${DOMAIN}`])))).ERROR_CODE, 'E_AUTH', 'nor for a box never enrolled');

  const beta = await enrolledSocket(t, s, 'box-beta');
  const other = await beta.ask(certify('box-alpha', await csrFor([`box-alpha.${DOMAIN}`])));
  t.equal(other.ERROR_CODE, 'E_AUTH', 'speaking for another box: E_AUTH');
  t.equal((await beta.closed).code, 4401, 'and the socket is closed');
});

t.test(`at most ${CERTIFY_PER_HOUR} CERTIFY an hour for one box`, async (t) => {
  const s = await setup(t);
  const box = await enrolledSocket(t, s, 'box-alpha');
  await s.redis.client().set(acmeKeys().certifyCount('box-alpha'), CERTIFY_PER_HOUR - 1, 'EX', 3600);
  const csr = await csrFor([`box-alpha.${DOMAIN}`]);
  t.equal((await box.ask(certify('box-alpha', csr))).MESSAGE, 'ACCEPTED', `the ${CERTIFY_PER_HOUR}th is issued`);
  const refused = await box.ask(certify('box-alpha', csr));
  t.equal(refused.ERROR_CODE, 'E_RATE', 'the next is refused with E_RATE');
  t.equal(box.ws.readyState, box.ws.OPEN, 'and the socket stays open');
  const other = await enrolledSocket(t, s, 'box-beta');
  t.equal((await other.ask(certify('box-beta', await csrFor([`box-beta.${DOMAIN}`])))).MESSAGE, 'ACCEPTED', 'another box is not held back');
});

t.test('a refusal by the CA is E_ACME, and the TXT value is withdrawn', async (t) => {
  const s = await setup(t, { domainBlocklist: [DOMAIN] });
  const box = await enrolledSocket(t, s, 'box-alpha');
  const reply = await box.ask(certify('box-alpha', await csrFor([`box-alpha.${DOMAIN}`])));
  t.equal(reply.ERROR_CODE, 'E_ACME', String(reply.ERROR));
  t.equal(box.ws.readyState, box.ws.OPEN, 'the socket stays open; the box tries again later');
  t.same(await s.redis.client().exists(acmeKeys().challenge(`box-alpha.${DOMAIN}`)), 0, 'nothing left in the zone');
});

t.test('NOT_AFTER is the lifetime the CA gave (a short-lived pebble certificate)', async (t) => {
  const s = await setup(t, { certificateValiditySeconds: 300 });
  const box = await enrolledSocket(t, s, 'box-alpha');
  const reply = await box.ask(certify('box-alpha', await csrFor([`box-alpha.${DOMAIN}`])));
  t.equal(reply.MESSAGE, 'ACCEPTED', String(reply.ERROR ?? ''));
  const left = Number(reply.NOT_AFTER) - Date.now() / 1000;
  t.ok(left > 0 && left <= 300 + 5, `expires in ${Math.round(left)} s, within the 300 s pebble was told`);
});

t.test('boxes certifying at once at a fresh entrance all get certificates (the ACME account is registered once)', async (t) => {
  const s = await setup(t);
  const ids = ['box-one', 'box-two', 'box-three'];
  const boxes = await Promise.all(ids.map((id) => enrolledSocket(t, s, id)));
  const replies = await Promise.all(boxes.map(async (box, i) => box.ask(certify(ids[i] ?? '', await csrFor([`${ids[i]}.${DOMAIN}`])))));
  for (const [i, reply] of replies.entries()) t.equal(reply.MESSAGE, 'ACCEPTED', `${ids[i]}: ${String(reply.ERROR ?? 'accepted')}`);
});

t.test('a second entrance on the same Redis orders with the account the first registered', async (t) => {
  const s = await setup(t);
  const first = await enrolledSocket(t, s, 'box-first');
  t.equal((await first.ask(certify('box-first', await csrFor([`box-first.${DOMAIN}`])))).MESSAGE, 'ACCEPTED', 'the first entrance registers the account and orders');
  const other = await startEntrance(t, {
    redisUrl: s.redis.url,
    env: {
      DANDELION_BOX_DOMAIN: DOMAIN, DANDELION_DNS_BIND: '127.0.0.1', DANDELION_DNS_PORT: '0',
      DANDELION_ACME_DIRECTORY_URL: s.pebble.directoryUrl, DANDELION_ACME_CA_FILE: s.pebble.apiCaFile,
    },
  });
  const box = await enrolledSocket(t, { ...s, url: other.url }, 'box-second');
  const reply = await box.ask(certify('box-second', await csrFor([`box-second.${DOMAIN}`])));
  t.equal(reply.MESSAGE, 'ACCEPTED', `the second entrance orders too: ${String(reply.ERROR ?? 'accepted')}`);
});
