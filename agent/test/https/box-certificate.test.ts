// What the box takes from a CERTIFY reply. A chain from a real CA (openssl, test-ca.ts) for the box's own
// key and name is stored and served; a chain naming another name, holding another key, already expired,
// or not linked leaf → issuer is refused and never written to disk; a refusal after a good certificate
// leaves that certificate stored and served. The key is made on the box with mode 0600 and the CSR names
// exactly BOX_NAME.
import { createPrivateKey } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { Backoff } from '../../../shared/src/backoff.js';
import { silentLogger } from '../../../shared/src/log.js';
import type { CertifyReply } from '../../../shared/src/protocol/index.js';
import { BoxCertificate } from '../../src/https/box-certificate.js';
import { certificatePaths } from '../../src/https/certificate-files.js';
import { checkIssuedChain } from '../../src/https/issued-chain.js';
import { createTestCa } from '../../../test/helpers/test-ca.js';

const NAME = 'box-unit.boxes.test';
const ca = createTestCa();

function reply(chain: string): CertifyReply {
  return { ID: 'entrance-x', IP: '127.0.0.1', PORT: 1, TYPE: 'ENTRANCE', COMMAND: 'CERTIFY', MESSAGE: 'ACCEPTED', CERTIFICATE: chain, NOT_AFTER: 0 };
}

/** A BoxCertificate whose CERTIFY is answered by `issue(csr)`, retrying at once, on the clock `clock.now`. */
function certificateWith(issue: (csr: string) => string, clock = { now: Date.now() }) {
  const paths = certificatePaths(mkdtempSync(path.join(os.tmpdir(), 'dandelion-cert-')));
  const csrs: string[] = [];
  const served: string[] = [];
  const cert = new BoxCertificate({
    paths, log: silentLogger(), now: () => clock.now, backoff: new Backoff(0, 0),
    certify: async (csr) => {
      csrs.push(csr);
      return reply(issue(csr));
    },
    serve: async (issued) => void served.push(issued.name),
  });
  return { cert, paths, csrs, served, clock };
}

t.test('a good chain is stored and served; the key stays on the box, mode 0600', async (t) => {
  const c = certificateWith((csr) => ca.issue(csr, { name: NAME, lifetimeSeconds: 86_400 }));
  t.equal(await c.cert.load(), undefined, 'nothing stored yet');
  t.equal(statSync(c.paths.keyPath).mode & 0o777, 0o600);
  c.cert.nameGiven(NAME, 'ws://entrance');
  await c.cert.settled();
  t.equal(c.cert.current?.name, NAME);
  t.same(c.served, [NAME]);
  t.equal(c.csrs.length, 1);
  t.notMatch(c.csrs[0] ?? '', /PRIVATE KEY/, 'the CSR holds no private key');
  const key = createPrivateKey(readFileSync(c.paths.keyPath));
  t.equal(checkIssuedChain(readFileSync(c.paths.chainPath, 'utf8'), { key, name: NAME, nowMs: Date.now() }).name, NAME, 'the stored chain passes the checks');
  c.cert.nameGiven(NAME, 'ws://entrance');
  await c.cert.settled();
  t.equal(c.csrs.length, 1, 'not asked again while the certificate is young');
});

const badChains: Array<[string, (csr: string) => string, RegExp]> = [
  ['another name', (csr) => ca.issue(csr, { name: 'box-other.boxes.test', lifetimeSeconds: 86_400 }), /^wrong-name/],
  ['another key', () => ca.issue(ca.strangerCsr(NAME), { name: NAME, lifetimeSeconds: 86_400 }), /^wrong-key/],
  ['expired', (csr) => ca.issue(csr, { name: NAME, startSeconds: -7_200, lifetimeSeconds: 3_600 }), /^expired/],
  ['a leaf without its issuer', (csr) => `${ca.issue(csr, { name: NAME, lifetimeSeconds: 86_400 }).split('-----END CERTIFICATE-----')[0]}-----END CERTIFICATE-----\n${ca.rootPem}`, /^broken-chain/],
  ['no certificate at all', () => 'hello', /^unreadable/],
];

for (const [what, issue, reason] of badChains) {
  t.test(`a chain with ${what} is refused and not stored`, async (t) => {
    const c = certificateWith(issue);
    await c.cert.load();
    c.cert.nameGiven(NAME, 'ws://entrance');
    await c.cert.settled();
    t.equal(c.cert.current, undefined, 'nothing served');
    t.match(c.cert.failure ?? '', reason);
    t.notOk(existsSync(c.paths.chainPath), 'nothing stored');
    t.same(c.served, []);
  });
}

t.test('a renewal that fails keeps the certificate held, on disk and served', async (t) => {
  let bad = false;
  const c = certificateWith((csr) => (bad ? ca.issue(csr, { name: 'box-other.boxes.test', lifetimeSeconds: 86_400 }) : ca.issue(csr, { name: NAME, lifetimeSeconds: 86_400 })));
  await c.cert.load();
  c.cert.nameGiven(NAME, 'ws://entrance');
  await c.cert.settled();
  const first = readFileSync(c.paths.chainPath, 'utf8');
  bad = true;
  c.clock.now = Date.now() + 0.7 * 86_400_000; // past 2/3 of the lifetime: due for renewal
  c.cert.nameGiven(NAME, 'ws://entrance');
  await c.cert.settled();
  t.equal(c.csrs.length, 2, 'renewal was asked for');
  t.match(c.cert.failure ?? '', /^wrong-name/);
  t.equal(c.cert.current?.chainPem, first, 'the old certificate is still the one held');
  t.equal(readFileSync(c.paths.chainPath, 'utf8'), first, 'and the one on disk');
  t.same(c.served, [NAME], 'nothing new was served');
});

t.test('a name that is no DNS name is never put in a CSR', async (t) => {
  const c = certificateWith((csr) => ca.issue(csr, { name: NAME, lifetimeSeconds: 86_400 }));
  await c.cert.load();
  for (const bad of ['', 'UPPER.example.net', 'nodot', 'a"b.example.net', '*.example.net']) c.cert.nameGiven(bad, 'ws://entrance');
  await c.cert.settled();
  t.equal(c.csrs.length, 0);
});
