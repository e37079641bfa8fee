// The publisher SIGKILLed with a queue of files in Redis: after it starts again every queued file
// reaches REPLICAS boxes, none is lost, and a copy confirmed before the kill is not sent again
// (the reliable queue: BLMOVE to {ID}:FILE:FILES_SENDING_PROCESSING, taken up at the next start).
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { eventually, startAgent } from '../helpers/agent.js';
import type { RunningAgent } from '../helpers/agent.js';
import { REAL_BOXES, startEntrance } from '../helpers/entrance.js';
import { startPublisher, testPublisherEnv } from '../helpers/publisher.js';
import { publisherToken } from '../helpers/publisher-account.js';
import { startRedis } from '../helpers/redis.js';
import { freePort } from '../../shared/src/listen.js';
import { explained, metricValue, spawnRole, tempDir } from './processes.js';

const FILES = 60;
const REPLICAS = 2;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

t.test('publisher killed with a queue of files: none lost, none sent twice', async (t) => {
  const redis = await startRedis(t);
  const r = redis.client();
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: REAL_BOXES });
  const boxes: RunningAgent[] = [];
  for (let i = 0; i < 3; i++) {
    boxes.push(await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url], boxId: `box-q${i}`, env: { DANDELION_METRICS_PORT: String(await freePort()) } }));
  }
  await eventually(async () => (await r.zcard(`${entrance.id}:BOX_SET`)) === boxes.length);

  const id = 'publisher-restart';
  const dir = tempDir(t, 'dandelion-fault-pub-');
  const env = testPublisherEnv({
    id, redisUrl: redis.url, entranceUrls: [entrance.url], dir,
    env: { DANDELION_REPLICAS: String(REPLICAS), DANDELION_ENROLMENT_TOKEN: await publisherToken(id, [entrance.url], redis.url) },
  });
  const queued = path.join(dir, 'queued');
  mkdirSync(queued, { recursive: true });
  const contents = new Map<string, Buffer>();
  for (let i = 0; i < FILES; i++) {
    const name = `f${String(i).padStart(3, '0')}.bin`;
    const content = randomBytes(200_000 + i);
    writeFileSync(path.join(queued, name), content);
    contents.set(name, content);
  }
  const processed = (name: string): Promise<Record<string, string>> => r.hgetall(`${id}:FILE:PROCESSED_FILES:${name}`);
  const confirmedFiles = async (): Promise<string[]> => {
    const done: string[] = [];
    for (const name of contents.keys()) if (Object.keys(await processed(name)).length >= REPLICAS) done.push(name);
    return done;
  };

  // The queue is filled before the publisher starts, so it takes entries while earlier ones are sent.
  await r.rpush(`${id}:FILE:FILES_SENDING_QUEUE`, ...[...contents.keys()].map((name) => JSON.stringify({ FILE_PATH: path.join(queued, name), TTL: 600 })));
  const first = spawnRole(t, 'publisher', env);
  const someDone = await eventually(async () => (await confirmedFiles()).length >= 3, 60_000, 20);
  t.ok(someDone, explained(someDone, 'some files delivered before the kill', first));
  t.equal(await first.kill(), 'SIGKILL', 'the publisher died of SIGKILL');

  // At the kill: every entry is delivered, or still in the queue or the processing list.
  const doneAtKill = await confirmedFiles();
  const waiting = await r.lrange(`${id}:FILE:FILES_SENDING_QUEUE`, 0, -1);
  const taken = await r.lrange(`${id}:FILE:FILES_SENDING_PROCESSING`, 0, -1);
  const listed = new Set([...waiting, ...taken].map((raw) => path.basename((JSON.parse(raw) as { FILE_PATH: string }).FILE_PATH)));
  const missing = [...contents.keys()].filter((name) => !doneAtKill.includes(name) && !listed.has(name));
  t.same(missing, [], 'no entry lost at the kill');
  t.ok(doneAtKill.length < FILES, `the kill came with files still to send (${doneAtKill.length} of ${FILES} done)`);
  t.ok(taken.length > 0, 'entries were taken and not finished: they wait in the processing list');

  // Where each copy confirmed before the kill lives, by inode: a copy sent again would be a new file.
  const inodes = new Map<string, number>();
  for (const name of doneAtKill) {
    for (const boxId of Object.keys(await processed(name))) {
      const box = boxes.find((b) => b.boxId === boxId);
      if (box) inodes.set(`${boxId}/${name}`, statSync(path.join(box.baseDirectory, id, name)).ino);
    }
  }

  const second = spawnRole(t, 'publisher', env);
  const all = await eventually(async () => (await confirmedFiles()).length === FILES, 120_000, 100);
  t.ok(all, explained(all, 'every queued file delivered after the restart', second));
  t.ok(await eventually(async () => (await r.llen(`${id}:FILE:FILES_SENDING_PROCESSING`)) === 0), 'processing list empty once done');
  t.equal(await r.llen(`${id}:FILE:FILES_SENDING_QUEUE`), 0, 'queue empty');
  t.equal(await r.llen(`${id}:FILE:REJECTED`), 0, 'nothing rejected');

  let resent = 0;
  for (const [where, ino] of inodes) {
    const [boxId, name] = where.split('/') as [string, string];
    const box = boxes.find((b) => b.boxId === boxId) as RunningAgent;
    if (statSync(path.join(box.baseDirectory, id, name)).ino !== ino) resent += 1;
  }
  t.equal(resent, 0, `none of the ${inodes.size} copies confirmed before the kill was sent again`);
  for (const [name, content] of contents) {
    const holders = Object.keys(await processed(name));
    t.equal(holders.length, REPLICAS, `${name} on exactly ${REPLICAS} boxes`);
    for (const boxId of holders) {
      const box = boxes.find((b) => b.boxId === boxId) as RunningAgent;
      if (sha(readFileSync(path.join(box.baseDirectory, id, name))) !== sha(content)) t.fail(`${boxId} holds other bytes of ${name}`);
    }
  }
  // Copies in flight at the kill (stored by a box, its reply lost) may be stored again: at most the
  // publisher's concurrent sends, each to REPLICAS boxes.
  let stored = 0;
  for (const box of boxes) stored += await metricValue(box.status.metricsPort as number, 'dandelion_files_stored_total');
  t.ok(stored >= FILES * REPLICAS && stored <= FILES * REPLICAS + 4 * REPLICAS, `boxes stored ${stored} copies for ${FILES * REPLICAS} wanted`);
});

t.test('entries queued while no box is ready wait in Redis, and go out once one is', async (t) => {
  const redis = await startRedis(t);
  const r = redis.client();
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: REAL_BOXES });
  const pub = await startPublisher(t, { redisUrl: redis.url, entranceUrls: [entrance.url], env: { DANDELION_REPLICAS: '1' } });
  const file = path.join(tempDir(t, 'dandelion-fault-wait-'), 'early.bin');
  writeFileSync(file, randomBytes(10_000));
  await r.rpush(`${pub.id}:FILE:FILES_SENDING_QUEUE`, JSON.stringify({ FILE_PATH: file, TTL: 600 }));
  // Longer than the replicator's rounds (4 × 1 s): taken now, the entry would end with no copy.
  await new Promise((resolve) => setTimeout(resolve, 6_000));
  t.equal(await r.llen(`${pub.id}:FILE:FILES_SENDING_QUEUE`), 1, 'still queued while no box is ready');
  await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url], boxId: 'box-late' });
  t.ok(await eventually(async () => (await r.hlen(`${pub.id}:FILE:PROCESSED_FILES:early.bin`)) === 1, 30_000), 'delivered once a box is ready');
  t.ok(await eventually(async () => (await r.llen(`${pub.id}:FILE:FILES_SENDING_PROCESSING`)) === 0), 'and finished');
});
