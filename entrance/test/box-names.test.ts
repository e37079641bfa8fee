/**
 * Box names without an ACME CA: BOX_DOMAIN is validated at load; the EXCHANGE reply carries BOX_NAME only
 * when there is a domain and the ID is a DNS label; HTTPS_URL is taken only on exactly that name (and then
 * listed in SEARCH); CERTIFY without a name is E_NO_DOMAIN.
 */
import t from 'tap';
import type { Test } from 'tap';
import { loadRoleConfig } from '../../shared/src/config/load.js';
import { ConfigError } from '../../shared/src/config/spec.js';
import { enrolledBox } from '../../test/helpers/enrolment.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { ORIGINAL_PUBLISHERS, boxExchange, searchRequest } from '../../test/helpers/messages.js';
import { startRedis } from '../../test/helpers/redis.js';
import { connectPeer } from '../../test/helpers/ws-client.js';

const DOMAIN = 'boxes.test';
const CSR = '-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgY3Ny\n-----END CERTIFICATE REQUEST-----\n';

async function entranceWith(t: Test, env: Record<string, string>): Promise<{ url: string; redisUrl: string }> {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: { ...ORIGINAL_PUBLISHERS, DANDELION_DNS_BIND: '127.0.0.1', DANDELION_DNS_PORT: '0', ...env } });
  return { url: entrance.url, redisUrl: redis.url };
}

t.test('BOX_DOMAIN must be a lowercase DNS zone; a bad one names the key', async (t) => {
  for (const bad of ['Boxes.Example.net', 'boxes..example.net', '-boxes.example.net', 'boxes.example.net.', 'boxes_example.net', `${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.example`]) {
    try {
      loadRoleConfig('entrance', undefined, { DANDELION_BOX_DOMAIN: bad });
      t.fail(`${bad} accepted`);
    } catch (err) {
      t.ok(err instanceof ConfigError && err.problems.some((p) => p.key === 'BOX_DOMAIN'), `${bad}: a problem naming BOX_DOMAIN`);
    }
  }
  const { config } = loadRoleConfig('entrance', undefined, { DANDELION_BOX_DOMAIN: 'boxes.example.net' });
  t.equal(config.BOX_DOMAIN, 'boxes.example.net');
  const defaults = loadRoleConfig('entrance', undefined, {}).config;
  t.equal(defaults.BOX_DOMAIN, '', 'off by default');
  t.equal(defaults.DNS_PORT, 53);
  t.match(defaults.ACME_DIRECTORY_URL, /^https:\/\/acme-v02\.api\.letsencrypt\.org\//);
  t.throws(() => loadRoleConfig('entrance', undefined, { DANDELION_ACME_DIRECTORY_URL: 'http://acme.example/dir' }), ConfigError, 'the ACME directory must be https');
});

t.test('BOX_NAME and HTTPS_URL in EXCHANGE', async (t) => {
  const { url } = await entranceWith(t, { DANDELION_BOX_DOMAIN: DOMAIN });
  const box = await connectPeer(url);
  t.teardown(() => box.close());
  const name = `box-alpha.${DOMAIN}`;
  const plain = await box.ask(boxExchange('box-alpha'));
  t.equal(plain.BOX_NAME, name);
  const accepted = await box.ask(boxExchange('box-alpha', { HTTPS_URL: `https://${name}:7073/` }));
  t.equal(accepted.MESSAGE, 'ACCEPTED', 'HTTPS_URL on its own name is taken');

  const publisher = await connectPeer(url);
  t.teardown(() => publisher.close());
  const found = await publisher.ask(searchRequest('publisher-p'));
  t.match(found.BOX_SET, { 'box-alpha': { HTTPS_URL: `https://${name}:7073/` } }, 'SEARCH lists the HTTPS_URL');

  for (const [what, httpsUrl] of [
    ['another box\'s name', `https://box-beta.${DOMAIN}:7073/`],
    ['an address', 'https://127.0.0.1:7073/'],
    ['a name outside the zone', 'https://box-alpha.example.com/'],
    ['its name as a suffix', `https://evil.${name}/`],
  ]) {
    const other = await connectPeer(url);
    const reply = await other.ask(boxExchange('box-alpha', { HTTPS_URL: httpsUrl }));
    t.equal(reply.ERROR_CODE, 'E_ADDRESS', `${what}: E_ADDRESS`);
    await other.close();
  }
  const notHttps = await connectPeer(url);
  t.equal((await notHttps.ask(boxExchange('box-alpha', { HTTPS_URL: `http://${name}/` }))).ERROR_CODE, 'E_FORMAT', 'an http:// HTTPS_URL: E_FORMAT');
  await notHttps.close();
});

t.test('without BOX_DOMAIN: no BOX_NAME, no HTTPS_URL, CERTIFY is E_NO_DOMAIN', async (t) => {
  const { url, redisUrl } = await entranceWith(t, {});
  const creds = await enrolledBox(redisUrl, url, 'box-alpha');
  const headers = await creds.upgradeHeaders(url);
  const box = await connectPeer(url, headers ? { headers } : {});
  t.teardown(() => box.close());
  const reply = await box.ask(boxExchange('box-alpha'));
  t.equal(reply.MESSAGE, 'ACCEPTED');
  t.notOk('BOX_NAME' in reply, 'no BOX_NAME');
  t.equal((await box.ask(boxExchange('box-alpha', { HTTPS_URL: 'https://box-alpha.boxes.test/' }))).ERROR_CODE, 'E_ADDRESS', 'no name: no HTTPS_URL');
});

t.test('CERTIFY is E_NO_DOMAIN without BOX_DOMAIN, and for a box whose ID is no DNS label', async (t) => {
  const { url, redisUrl } = await entranceWith(t, {});
  const creds = await enrolledBox(redisUrl, url, 'box-alpha');
  const headers = await creds.upgradeHeaders(url);
  const box = await connectPeer(url, headers ? { headers } : {});
  t.teardown(() => box.close());
  const reply = await box.ask({ ID: 'box-alpha', IP: '127.0.0.1', PORT: 7071, TYPE: 'BOX', COMMAND: 'CERTIFY', CSR });
  t.equal(reply.ERROR_CODE, 'E_NO_DOMAIN');
  t.equal(box.ws.readyState, box.ws.OPEN, 'the socket stays open');

  const named = await entranceWith(t, { DANDELION_BOX_DOMAIN: DOMAIN });
  const upper = await enrolledBox(named.redisUrl, named.url, 'box-Upper');
  const upperHeaders = await upper.upgradeHeaders(named.url);
  const upperBox = await connectPeer(named.url, upperHeaders ? { headers: upperHeaders } : {});
  t.teardown(() => upperBox.close());
  const refused = await upperBox.ask({ ID: 'box-Upper', IP: '127.0.0.1', PORT: 7071, TYPE: 'BOX', COMMAND: 'CERTIFY', CSR });
  t.equal(refused.ERROR_CODE, 'E_NO_DOMAIN', 'an ID with capitals has no name');
});
