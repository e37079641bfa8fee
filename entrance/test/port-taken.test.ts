// `dandelion entrance` that cannot listen where its config says exits 1 with a message naming the key:
// ENTRANCE_PORT (or DNS_PORT) for a port another program holds, ENTRANCE_IP for an address this machine lacks.
import t from 'tap';
import { startRedis } from '../../test/helpers/redis.js';
import { occupiedPort, runDandelion } from '../../test/helpers/cli.js';

t.test('a taken ENTRANCE_PORT and a foreign ENTRANCE_IP are named; exit 1', async (t) => {
  const redis = await startRedis(t);
  const port = await occupiedPort(t);
  const env = { DANDELION_REDIS_URL: redis.url, DANDELION_RUN_DIRECTORY: t.testdir(), DANDELION_REQUIRE_ENROLMENT: 'false' };

  const taken = await runDandelion(['entrance'], { ...env, DANDELION_ENTRANCE_IP: '127.0.0.1', DANDELION_ENTRANCE_PORT: String(port) });
  t.equal(taken.code, 1, 'exit 1: failure while running');
  t.match(taken.stderr, new RegExp(`dandelion: ENTRANCE_PORT ${port}: address in use`), taken.stderr);

  // 203.0.113.0/24 is documentation space (RFC 5737): no machine has it.
  const foreign = await runDandelion(['entrance'], { ...env, DANDELION_ENTRANCE_IP: '203.0.113.9', DANDELION_ENTRANCE_PORT: '0' });
  t.equal(foreign.code, 1);
  t.match(foreign.stderr, /dandelion: ENTRANCE_IP 203\.0\.113\.9: address not available/, foreign.stderr);
});

t.test('a taken DNS_PORT is named; exit 1', async (t) => {
  const redis = await startRedis(t);
  const port = await occupiedPort(t);
  const taken = await runDandelion(['entrance'], {
    DANDELION_REDIS_URL: redis.url, DANDELION_RUN_DIRECTORY: t.testdir(), DANDELION_ENTRANCE_IP: '127.0.0.1', DANDELION_ENTRANCE_PORT: '0',
    DANDELION_BOX_DOMAIN: 'boxes.test', DANDELION_DNS_BIND: '127.0.0.1', DANDELION_DNS_PORT: String(port),
  });
  t.equal(taken.code, 1);
  t.match(taken.stderr, new RegExp(`dandelion: DNS_PORT ${port}: address in use`), taken.stderr);
});
