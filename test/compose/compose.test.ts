// `make compose-test` (scripts/compose/test.sh builds the images with a dockerd of its own first):
// deploy/compose.yaml (an entrance and its Redis) and deploy/compose.publisher.yaml (a publisher and its
// Redis) come up on 127.0.0.1 as an operator would run them; the operator makes a fleet token and a
// publisher account inside the entrance's container; two box agents on this host (each with its nginx)
// enrol and register through the entrance; the publisher's container registers and sends a file to both
// boxes; the dashboard's API lists the boxes and the publisher; the entrance's Redis keeps the enrolment
// across a new container (its volume); everything comes down with its volumes.
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { freePort } from '../../shared/src/listen.js';
import { hashPassword } from '../../shared/src/password.js';
import { eventually, startAgent } from '../helpers/agent.js';
import type { RunningAgent } from '../helpers/agent.js';
import { startRedis } from '../helpers/redis.js';
import { composeProject } from './compose-project.js';

const PUBLISHER = 'publisher-compose';
const TAIPEI = { CITY: 'Taipei', COUNTRY: 'TW', LOC: '25.03,121.56' };
const HSINCHU = { CITY: 'Hsinchu', COUNTRY: 'TW', LOC: '24.80,120.97' };

interface BoxRow { ID: string; STATE: string }
interface PublisherRow { ID: string }

t.test('compose: an entrance, its Redis and a publisher in containers; two boxes on the host', { timeout: 400_000 }, async (t) => {
  const entrancePort = await freePort();
  const apiToken = randomBytes(18).toString('hex');
  const entrance = composeProject(t, {
    file: 'compose.yaml',
    name: 'dandelion-compose-test',
    vars: { ENTRANCE_PORT: String(entrancePort), REDIS_PORT: String(await freePort()), DANDELION_API_TOKENS: JSON.stringify([await hashPassword(apiToken)]) },
  });
  await entrance.upFresh();
  const http = `http://127.0.0.1:${entrancePort}`;
  const wsUrl = `ws://127.0.0.1:${entrancePort}/dandelion/ws/`;
  const up = await eventually(() => fetch(`${http}/dandelion/`).then((r) => r.status === 200, () => false), 90_000, 500);
  if (!up) t.fail(`the entrance did not answer on ${http}:\n${await entrance.logs()}`);
  t.ok(up, 'the entrance container answers on 127.0.0.1');

  // The image is this checkout's build (scripts/compose/test.sh passes the commit to the build).
  const version = await entrance.exec('entrance', 'dandelion', '--version');
  t.match(version, new RegExp(`^dandelion \\d+\\.\\d+\\.\\d+ \\(${process.env.DANDELION_COMMIT ?? 'unknown'}`), 'the entrance image reports this commit');

  // The operator's chores, inside the entrance's container.
  const fleet = JSON.parse(await entrance.exec('entrance', 'dandelion', 'entrance', 'token', 'create', '--uses', '2', '--json')) as { TOKEN: string };
  t.match(fleet.TOKEN, /^dlt_/, 'a fleet token made with docker-compose exec');
  const account = JSON.parse(await entrance.exec('entrance', 'dandelion', 'entrance', 'publisher', 'create', 'compose', '--json')) as { TOKEN: string };
  t.match(account.TOKEN, /^dlp_/, 'a publisher account made with docker-compose exec');

  // Two boxes on this host, with their own Redis and nginx, enrolling with the fleet token.
  const boxRedis = await startRedis(t);
  const boxes: RunningAgent[] = [];
  for (const [name, place] of [['box-compose-taipei', TAIPEI], ['box-compose-hsinchu', HSINCHU]] as const) {
    boxes.push(await startAgent(t, { redisUrl: boxRedis.url, entranceUrls: [wsUrl], boxId: name, env: { DANDELION_ENROLMENT_TOKEN: fleet.TOKEN, DANDELION_GEOIP: JSON.stringify(place) } }));
  }

  const live = mkdtempSync(path.join(os.tmpdir(), 'dandelion-compose-live-'));
  // The container's user reads what the encoder (here: this test, as root) writes.
  chmodSync(live, 0o755);
  const publisher = composeProject(t, {
    file: 'compose.publisher.yaml',
    name: 'dandelion-compose-test-publisher',
    vars: {
      ENTRANCE_URLS: JSON.stringify([wsUrl]),
      DANDELION_ENROLMENT_TOKEN: account.TOKEN,
      PUBLISHER_LIVE: live,
      PUBLISHER_REDIS_PORT: String(await freePort()),
      PUBLISHER_HTTP_PORT: String(await freePort()),
      PUBLISHER_METRICS_PORT: '0',
    },
  });
  await publisher.upFresh();

  const api = async <T>(p: string): Promise<T> => (await (await fetch(`${http}${p}`, { headers: { authorization: `Bearer ${apiToken}` } })).json()) as T;
  const online = await eventually(async () => {
    const { BOXES } = await api<{ BOXES: BoxRow[] }>('/api/boxes');
    return boxes.every((b) => BOXES.some((row) => row.ID === b.boxId && row.STATE === 'online'));
  }, 60_000, 500);
  t.ok(online, 'the dashboard API lists both boxes online');
  const listed = await eventually(async () => (await api<{ PUBLISHERS: PublisherRow[] }>('/api/publishers')).PUBLISHERS.some((p) => p.ID === PUBLISHER), 60_000, 500);
  if (!listed) t.fail(`the publisher was not listed:\n${await publisher.logs()}`);
  t.ok(listed, 'the dashboard API lists the publisher of the container');

  // A file the encoder finished goes from the publisher's container to both boxes (REPLICAS: 2).
  const body = randomBytes(40_000);
  writeFileSync(path.join(live, 'seg-0.ts'), body, { mode: 0o644 });
  for (const box of boxes) {
    const file = path.join(box.baseDirectory, PUBLISHER, 'seg-0.ts');
    const arrived = await eventually(() => existsSync(file) && readFileSync(file).equals(body), 60_000, 500);
    t.ok(arrived, `the publisher's file reached ${box.boxId}`);
  }

  // Redis keeps its data in its volume: a new container still knows both enrolled boxes.
  await entrance.remove('redis');
  await entrance.up('redis');
  const enrolled = await eventually(async () => {
    const out = await entrance.exec('entrance', 'dandelion', 'entrance', 'box', 'list', '--json').catch(() => '');
    if (out === '') return false; // Redis is still starting: the command says so and exits 1
    const { BOXES } = JSON.parse(out) as { BOXES: Array<{ ID: string; STATE: string }> };
    return boxes.every((b) => BOXES.some((row) => row.ID === b.boxId && row.STATE === 'enrolled'));
  }, 60_000, 1_000);
  t.ok(enrolled, 'the enrolment outlives the Redis container');
});
