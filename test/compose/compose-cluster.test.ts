// `make compose-test`, its second file: deploy/compose.cluster.yaml (three entrances sharing one fleet on
// a six-node Redis Cluster with replicas, behind nginx's TLS TCP front) comes up on free ports of
// 127.0.0.1 with a throwaway CA's certificate; two box agents and a publisher on this host (trusting the
// CA through NODE_EXTRA_CA_CERTS) enrol and register through the front; each entrance, asked directly,
// finds the boxes in SEARCH and lists the whole fleet in its dashboard API; one entrance is SIGKILLed and
// the boxes are back in SEARCH through the front, heartbeating through the two left; all comes down.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { freePort } from '../../shared/src/listen.js';
import { hashPassword } from '../../shared/src/password.js';
import { eventually } from '../helpers/agent.js';
import { testPublisherEnv } from '../helpers/publisher.js';
import { startRedis } from '../helpers/redis.js';
import { createTestCa } from '../helpers/test-ca.js';
import { spawnBox, spawnRole, tempDir } from '../faults/processes.js';
import type { BoxProcess } from '../faults/processes.js';
import { composeProject } from './compose-project.js';

/** The lab's one authenticated SEARCH as a publisher, run as a child so it can trust the test CA. */
const SEARCH_ONCE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../lab/search-once.js');
const PUBLISHER = 'publisher-cluster';
const TAIPEI = { CITY: 'Taipei', COUNTRY: 'TW', LOC: '25.03,121.56' };
const HSINCHU = { CITY: 'Hsinchu', COUNTRY: 'TW', LOC: '24.80,120.97' };

interface BoxRow { ID: string; STATE: string; LAST_SEEN: number }
interface PublisherRow { ID: string }

/** `count` distinct free loopback ports. */
async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

function run(file: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env: { ...process.env, ...env }, timeout: 20_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** GET over TLS trusting `ca` only: the status code. */
function httpsStatus(url: string, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    https.get(url, { ca }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

t.test('compose cluster: three entrances on a Redis Cluster behind a TLS TCP front; boxes and a publisher through it', { timeout: 480_000 }, async (t) => {
  const [front, e1, e2, e3, ...redisPorts] = await freePorts(16);
  const entrancePorts = [e1, e2, e3] as number[];
  const frontWs = `wss://127.0.0.1:${front}/dandelion/ws/`;

  // A throwaway CA; the front serves a certificate for 127.0.0.1 it issued.
  const ca = createTestCa();
  const tls = tempDir(t, 'dandelion-compose-tls-');
  const pair = ca.serverPair('localhost', '127.0.0.1');
  writeFileSync(path.join(tls, 'fullchain.pem'), pair.certPem);
  writeFileSync(path.join(tls, 'privkey.pem'), pair.keyPem, { mode: 0o600 });
  const caFile = path.join(tls, 'ca.pem');
  writeFileSync(caFile, ca.rootPem);
  const trustCa = { NODE_EXTRA_CA_CERTS: caFile };

  const apiToken = randomBytes(18).toString('hex');
  const vars: Record<string, string> = {
    FRONT_IP: '127.0.0.1',
    FRONT_PORT: String(front),
    TLS_DIRECTORY: tls,
    ENTRANCE_URL: frontWs,
    FLEET_ID: 'fleet-compose-test',
    DANDELION_API_TOKENS: JSON.stringify([await hashPassword(apiToken)]),
  };
  entrancePorts.forEach((p, i) => (vars[`ENTRANCE_${i + 1}_PORT`] = String(p)));
  for (let i = 0; i < 6; i++) {
    vars[`REDIS_${i + 1}_PORT`] = String(redisPorts[i]);
    vars[`REDIS_${i + 1}_BUS_PORT`] = String(redisPorts[i + 6]);
  }
  const cluster = composeProject(t, { file: 'compose.cluster.yaml', name: 'dandelion-compose-test-cluster', vars });
  const started = Date.now();
  // `up` returns once redis-cluster-create has finished (the entrances depend on it).
  await cluster.upFresh();

  const nodes = await eventually(async () => {
    const out = await cluster.exec('redis-1', 'redis-cli', '-p', String(redisPorts[0]), 'cluster', 'nodes').catch(() => '');
    const lines = out.trim().split('\n');
    return lines.filter((l) => / master /.test(l) || /,master /.test(l)).length === 3 && lines.filter((l) => /slave/.test(l)).length === 3;
  }, 60_000, 1_000);
  t.ok(nodes, 'the Redis Cluster has three masters, each with a replica');

  let silent: string[] = [];
  const answers = await eventually(async () => {
    const codes = await Promise.all(entrancePorts.map((p) => fetch(`http://127.0.0.1:${p}/dandelion/`).then((r) => r.status, () => 0)));
    silent = codes.flatMap((c, i) => (c === 200 ? [] : [`entrance-${i + 1}`]));
    return silent.length === 0;
  }, 120_000, 500);
  if (!answers) t.fail(`${silent.join(', ')} did not answer:\n${await cluster.logs(...silent)}`);
  t.ok(answers, 'the three entrances answer on 127.0.0.1');
  const frontUp = await eventually(() => httpsStatus(`https://127.0.0.1:${front}/dandelion/`, ca.rootPem).then((s) => s === 200, () => false), 30_000, 500);
  t.ok(frontUp, 'the front answers HTTPS with the CA\'s certificate');
  t.comment(`cluster up and answering after ${Math.round((Date.now() - started) / 1000)} s`);

  // The operator's chores, in one entrance's container: the fleet is one, so they hold for all three.
  const fleet = JSON.parse(await cluster.exec('entrance-1', 'dandelion', 'entrance', 'token', 'create', '--uses', '2', '--json')) as { TOKEN: string };
  t.match(fleet.TOKEN, /^dlt_/, 'a fleet token made in entrance-1');
  const account = JSON.parse(await cluster.exec('entrance-2', 'dandelion', 'entrance', 'publisher', 'create', 'cluster', '--json')) as { TOKEN: string };
  t.match(account.TOKEN, /^dlp_/, 'a publisher account made in entrance-2');

  // Two boxes and the publisher on this host, knowing only the front's URL.
  const boxRedis = await startRedis(t);
  const boxes: BoxProcess[] = [];
  for (const [boxId, place] of [['box-cluster-taipei', TAIPEI], ['box-cluster-hsinchu', HSINCHU]] as const) {
    boxes.push(spawnBox(t, {
      redisUrl: boxRedis.url, entranceUrls: [frontWs], boxId, dir: tempDir(t, 'dandelion-compose-box-'),
      env: { DANDELION_ENROLMENT_TOKEN: fleet.TOKEN, DANDELION_GEOIP: JSON.stringify(place), ...trustCa },
    }));
  }
  const publisherRedis = await startRedis(t);
  const publisherDir = tempDir(t, 'dandelion-compose-publisher-');
  mkdirSync(path.join(publisherDir, 'live'));
  const publisher = spawnRole(t, 'publisher', {
    ...testPublisherEnv({ id: PUBLISHER, redisUrl: publisherRedis.url, entranceUrls: [frontWs], dir: publisherDir }),
    DANDELION_ENROLMENT_TOKEN: account.TOKEN,
    ...trustCa,
  });
  const keyFile = path.join(publisherDir, 'run', 'publisher-key.pem');
  const enrolled = await eventually(() => existsSync(keyFile), 60_000, 500);
  if (!enrolled) t.fail(`the publisher did not enrol:\n${publisher.output()}`);

  const api = async <T>(port: number, p: string): Promise<T> => (await (await fetch(`http://127.0.0.1:${port}${p}`, { headers: { authorization: `Bearer ${apiToken}` } })).json()) as T;
  const boxRows = async (port: number): Promise<BoxRow[]> => (await api<{ BOXES: BoxRow[] }>(port, '/api/boxes')).BOXES;
  let lastSearch = '';
  const searched = async (url: string): Promise<string[]> => {
    try {
      const set = JSON.parse(await run(process.execPath, [SEARCH_ONCE, url, PUBLISHER, keyFile], trustCa)) as unknown;
      lastSearch = JSON.stringify(set);
      return typeof set === 'object' && set !== null ? Object.keys(set) : [];
    } catch (err) {
      lastSearch = String(err);
      return [];
    }
  };
  const findsAll = async (url: string): Promise<boolean> => {
    const found = await searched(url);
    return boxes.every((b) => found.includes(b.boxId));
  };

  for (const [i, port] of entrancePorts.entries()) {
    const online = await eventually(async () => {
      const rows = await boxRows(port);
      return boxes.every((b) => rows.some((r) => r.ID === b.boxId && r.STATE === 'online'));
    }, 60_000, 500);
    if (!online) t.fail(`entrance-${i + 1} did not list both boxes online:\n${boxes.map((b) => b.output()).join('\n')}`);
    t.ok(online, `entrance-${i + 1}'s dashboard API lists both boxes online`);
    const listed = await eventually(async () => (await api<{ PUBLISHERS: PublisherRow[] }>(port, '/api/publishers')).PUBLISHERS.some((p) => p.ID === PUBLISHER), 60_000, 500);
    if (!listed) t.fail(`the publisher is not listed:\n${publisher.output()}`);
    t.ok(listed, `entrance-${i + 1}'s dashboard API lists the publisher`);
    const found = await eventually(() => findsAll(`ws://127.0.0.1:${port}/dandelion/ws/`), 60_000, 1_000);
    t.ok(found, `a SEARCH on entrance-${i + 1} directly finds both boxes registered through the front (${lastSearch})`);
  }
  t.ok(await eventually(() => findsAll(frontWs), 30_000, 1_000), `a SEARCH through the front finds both boxes (${lastSearch})`);

  // A file the encoder finished goes from the publisher to both boxes (REPLICAS: 2).
  const body = randomBytes(40_000);
  writeFileSync(path.join(publisherDir, 'live', 'seg-0.ts'), body);
  for (const box of boxes) {
    const file = path.join(box.baseDirectory, PUBLISHER, 'seg-0.ts');
    const arrived = await eventually(() => existsSync(file) && readFileSync(file).equals(body), 60_000, 500);
    if (!arrived) t.fail(`the file did not reach ${box.boxId}:\n${publisher.output()}`);
    t.ok(arrived, `the publisher's file reached ${box.boxId}`);
  }

  // The entrance the front has passed the most sockets to (boxes' and the publisher's) is SIGKILLed.
  const held = await Promise.all(entrancePorts.map(async (p) => {
    const out = await run('ss', ['-tnpH', 'state', 'established', `( dport = :${p} )`]);
    return out.split('\n').filter((l) => l.includes('"nginx"')).length;
  }));
  const victim = held.indexOf(Math.max(...held));
  t.ok((held[victim] ?? 0) > 0, `entrance-${victim + 1} holds ${held[victim]} of the front's sockets (${held.join(', ')})`);
  const killedAt = Date.now() / 1000;
  await cluster.kill(`entrance-${victim + 1}`);
  const survivors = entrancePorts.filter((_, i) => i !== victim);
  const down = await fetch(`http://127.0.0.1:${entrancePorts[victim]}/dandelion/`).then(() => false, () => true);
  t.ok(down, `entrance-${victim + 1} is down`);

  // Every box heartbeats again after the kill (through the front, to an entrance left) and is in SEARCH.
  const moved = await eventually(async () => {
    const rows = await boxRows(survivors[0] as number);
    return boxes.every((b) => rows.some((r) => r.ID === b.boxId && r.STATE === 'online' && r.LAST_SEEN > killedAt + 1));
  }, 60_000, 500);
  if (!moved) t.fail(`the boxes did not heartbeat again:\n${boxes.map((b) => b.output()).join('\n')}`);
  t.ok(moved, 'both boxes heartbeat again after the kill, through the front');
  t.ok(await eventually(() => findsAll(frontWs), 30_000, 1_000), `a SEARCH through the front still finds both boxes (${lastSearch})`);
  for (const port of survivors) {
    const rows = await boxRows(port);
    t.ok(boxes.every((b) => rows.some((r) => r.ID === b.boxId && r.STATE === 'online')), `the entrance on ${port} still lists both boxes online`);
  }
  t.comment(`cluster test body took ${Math.round((Date.now() - started) / 1000)} s`);
});
