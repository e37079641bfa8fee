// What a box shows to whom. Its /metrics listens on METRICS_IP, loopback unless configured, whatever
// BOX_SERVER_IP is, so neither the household network nor the internet reads it. Its status page on the
// viewer port lists the box's network addresses only to peers on its own networks (loopback, private,
// link-local, ULA), and the household's advice (it names the box's LAN address) likewise; any other peer
// gets the same page without them.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { loadRoleConfig } from '../../shared/src/config/load.js';
import { silentLogger } from '../../shared/src/log.js';
import { startRedis } from '../../test/helpers/redis.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { startAgent } from '../../test/helpers/agent.js';
import { managedNginxForTest } from '../../test/helpers/nginx-process.js';
import { freePort, scrape } from '../../test/helpers/prometheus.js';
import { BoxStatus } from '../src/status/box-status.js';

/** Whether anything accepts a TCP connection on host:port. */
async function answers(url: string): Promise<boolean> {
  return fetch(url).then(
    () => true,
    () => false,
  );
}

t.test('/metrics binds METRICS_IP (127.0.0.1 by default), not BOX_SERVER_IP', async (t) => {
  t.equal(loadRoleConfig('agent', undefined, {}).config.METRICS_IP, '127.0.0.1', 'the default is loopback');
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url });
  // 127.0.0.2 is loopback too (all of 127/8 is on Linux), so the test can tell the two binds apart.
  const port = await freePort();
  await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url], env: { DANDELION_BOX_SERVER_IP: '127.0.0.2', DANDELION_METRICS_PORT: String(port) } });
  t.equal((await scrape(`http://127.0.0.1:${port}/metrics`)).status, 200, 'on 127.0.0.1');
  t.notOk(await answers(`http://127.0.0.2:${port}/metrics`), 'not on BOX_SERVER_IP');

  const port3 = await freePort('127.0.0.3');
  await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url], env: { DANDELION_METRICS_IP: '127.0.0.3', DANDELION_METRICS_PORT: String(port3) } });
  t.equal((await scrape(`http://127.0.0.3:${port3}/metrics`)).status, 200, 'on METRICS_IP when set');
});

/** The box's addresses as the status page lists them. */
const boxAddresses = (): string[] =>
  Object.values(os.networkInterfaces()).flat().filter((a) => a !== undefined && !a.internal).map((a) => (a as os.NetworkInterfaceInfo).address);

t.test('the status page lists the box\'s addresses to its own networks only', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dandelion-status-'));
  const statusDirectory = path.join(dir, 'status');
  const status = new BoxStatus('box-exposure', statusDirectory, silentLogger());
  status.set('no-time', 'waiting for the clock');
  const advice = 'Your router does not allow automatic port forwarding. Forward TCP 7072 and 7071 to 192.168.1.23, or turn on UPnP.';
  status.advise('box', advice);
  await status.flush();

  /** A managed nginx serving that status folder; `lanNetworks` overrides which peers count as the box's own. */
  const serve = async (name: string, lanNetworks?: string[]): Promise<string> => {
    const runDirectory = path.join(dir, name);
    const nginx = managedNginxForTest(t, runDirectory);
    const httpPort = await freePort();
    await nginx.start({
      boxId: 'box-exposure', listenIp: '127.0.0.1', httpPort, agentHost: '127.0.0.1', agentPort: await freePort(),
      baseDirectory: path.join(dir, 'files'), accessLogPath: path.join(runDirectory, 'access.log'), ratesByConnections: [1_000_000, 1_000_000], maxConnections: 1,
      statusDirectory, ...(lanNetworks ? { lanNetworks } : {}),
    });
    return `http://127.0.0.1:${httpPort}/status`;
  };

  const lan = await serve('lan');
  const lanJson = (await (await fetch(`${lan}/status.json`)).json()) as Record<string, unknown>;
  t.equal(lanJson.ID, 'box-exposure');
  t.equal(lanJson.STATUS, 'no-time');
  t.same(lanJson.ADDRESSES, boxAddresses(), 'a loopback peer sees the addresses');
  const lanPage = await (await fetch(`${lan}/`)).text();
  for (const a of boxAddresses()) t.match(lanPage, a, `the page lists ${a}`);
  t.equal(lanJson.ADVICE, advice, 'the household\'s sentence, which names the LAN address');
  t.match(lanPage, 'Forward TCP 7072 and 7071 to 192.168.1.23');

  // The same box, with loopback not counted as its own network: the test's peer is now a stranger.
  const stranger = await serve('public', ['10.0.0.0/8']);
  const publicRes = await fetch(`${stranger}/status.json`);
  t.equal(publicRes.status, 200);
  const publicJson = (await publicRes.json()) as Record<string, unknown>;
  t.equal(publicJson.ID, 'box-exposure', 'a stranger still sees which box this is (the entrance\'s reachability probe reads it)');
  t.equal(publicJson.STATUS, 'no-time', 'and its status');
  t.notOk('ADDRESSES' in publicJson, 'but not its addresses');
  t.notOk('ADVICE' in publicJson, 'nor the advice');
  const publicPage = await (await fetch(`${stranger}/`)).text();
  t.match(publicPage, /no-time/, 'the page shows the status');
  for (const a of boxAddresses()) t.notMatch(publicPage, a, `the page hides ${a}`);
  t.notMatch(publicPage, '192.168.1.23', 'the page hides the advice');
  t.match(publicPage, /local network/, 'and says where the addresses can be seen');
  t.equal((await fetch(`${stranger}/lan/status.json`)).status, 404, 'the LAN copy is not reachable by another path');
  const strangerPost = await fetch(`${stranger}/household`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'UPLOAD_CAP_MBIT=1' });
  t.equal(strangerPost.status, 403, 'a stranger cannot post the household\'s settings: nginx refuses before the agent');
  t.equal((await fetch(`${stranger}/household`)).status, 403, 'nor read them');
  t.equal((await fetch(`${lan}/household`)).status, 502, 'a LAN peer is proxied to the agent (none runs here)');
});
