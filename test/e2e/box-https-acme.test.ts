// A box gets a browser-grade name and certificate with no household action, end to end on loopback: the
// real entrance (BOX_DOMAIN, its DNS, ACME through pebble validating DNS-01 against that DNS) and the
// real agent (enrolled with a fleet token; its own key and CSR; nginx serving HTTPS). The entrance's DNS
// answers the box's name with its address, the box announces HTTPS_URL on that name, SEARCH lists it,
// and a client trusting only pebble's root connects to it by name.
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import t from 'tap';
import dnsPacket from 'dns-packet';
import { freePort } from '../../shared/src/listen.js';
import { silentLogger } from '../../shared/src/log.js';
import { connectRedis } from '../../shared/src/redis.js';
import { EnrolmentStore } from '../../entrance/src/enrolment/store.js';
import { eventually, startAgent } from '../helpers/agent.js';
import { queryBytes, udpRaw } from '../helpers/dns.js';
import { startEntrance } from '../helpers/entrance.js';
import { ORIGINAL_PUBLISHERS, searchRequest } from '../helpers/messages.js';
import { startPebble } from '../helpers/pebble.js';
import { startRedis } from '../helpers/redis.js';
import { connectPeer } from '../helpers/ws-client.js';

const DOMAIN = 'boxes.test';

t.test('an enrolled box is named, certified through ACME DNS-01 and serves HTTPS by its name', async (t) => {
  const redis = await startRedis(t);
  const dnsPort = await freePort();
  const pebble = await startPebble(t, { dnsServer: `127.0.0.1:${dnsPort}` });
  const entrance = await startEntrance(t, {
    redisUrl: redis.url,
    env: {
      ...ORIGINAL_PUBLISHERS, DANDELION_REQUIRE_ENROLMENT: 'true',
      DANDELION_BOX_DOMAIN: DOMAIN, DANDELION_DNS_BIND: '127.0.0.1', DANDELION_DNS_PORT: String(dnsPort),
      DANDELION_ACME_DIRECTORY_URL: pebble.directoryUrl, DANDELION_ACME_CA_FILE: pebble.apiCaFile,
    },
  });
  const client = await connectRedis({ REDIS_URL: redis.url, REDIS_HOST: '', REDIS_PORT: 0, DB: 0 }, silentLogger());
  const { token } = await new EnrolmentStore(client).createToken({ expiresInSeconds: 600, maxUses: 1 });
  client.disconnect();

  const boxId = 'box-e2e';
  const name = `${boxId}.${DOMAIN}`;
  const started = Date.now();
  const box = await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url], boxId, env: { DANDELION_ENROLMENT_TOKEN: token } });
  const httpsUrl = await eventually(async () => (await box.agent.buildExchange()).HTTPS_URL, 60_000);
  t.comment(`agent start to HTTPS_URL announced: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const port = box.agent.status().httpsPort;
  t.equal(httpsUrl, `https://${name}:${port}/`);

  const answer = await udpRaw(dnsPort, queryBytes(name, 'A'));
  t.same(answer && dnsPacket.decode(answer).answers?.map((r) => r.type === 'A' && r.data), ['127.0.0.1'], 'the entrance\'s DNS answers the box\'s name');

  const root = await pebble.issuerRoot();
  const served = await new Promise<X509Certificate>((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: name, ca: root }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.destroy();
      if (cert) resolve(cert);
      else reject(new Error('no peer certificate'));
    });
    socket.once('error', reject);
  });
  t.equal(served.checkHost(name), name, 'nginx serves a certificate for the name, verified up to pebble\'s root');

  const publisher = await connectPeer(entrance.url);
  t.teardown(() => publisher.close());
  const listed = await eventually(async () => {
    const reply = await publisher.ask(searchRequest('publisher-e2e'));
    const set = reply.BOX_SET;
    return typeof set === 'object' && set !== null && boxId in set ? reply : undefined;
  });
  t.match(listed?.BOX_SET, { [boxId]: { HTTPS_URL: httpsUrl } }, 'SEARCH hands publishers the box\'s HTTPS_URL');
});
