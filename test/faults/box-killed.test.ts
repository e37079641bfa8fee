// A box SIGKILLed in the middle of receiving a file: the publisher's copy goes to another box, and
// once the killed box is started again no partial file is left anywhere under its files folder (its
// .incoming temp files included), and it serves only whole files.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { eventually } from '../helpers/agent.js';
import { REAL_BOXES, startEntrance } from '../helpers/entrance.js';
import { startPublisher } from '../helpers/publisher.js';
import { startRedis } from '../helpers/redis.js';
import { explained, filesUnder, spawnBox, tempDir } from './processes.js';
import type { BoxProcess } from './processes.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const SIZE = 40 * 1024 * 1024;

t.test('box killed while receiving a file: the copy goes elsewhere, no partial file after restart', async (t) => {
  const redis = await startRedis(t);
  const r = redis.client();
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: REAL_BOXES });
  const optsOf = (boxId: string) => ({ redisUrl: redis.url, entranceUrls: [entrance.url], boxId, dir: tempDir(t, 'dandelion-fault-box-') });
  const opts = [optsOf('box-k0'), optsOf('box-k1')];
  const boxes: BoxProcess[] = opts.map((o) => spawnBox(t, o));
  // One copy: it goes to whichever box ranks first, and that box is the one killed.
  const pub = await startPublisher(t, { redisUrl: redis.url, entranceUrls: [entrance.url], env: { DANDELION_REPLICAS: '1', DANDELION_AUDIT_RATE: '0' } });
  const ready = await eventually(() => pub.publisher.pool.ready().length === 2, 30_000);
  t.ok(ready, explained(ready, 'both boxes ready', ...boxes));

  const content = randomBytes(SIZE);
  await mkdir(path.join(pub.watchDirectory, 'live'), { recursive: true });
  writeFileSync(path.join(pub.watchDirectory, 'live', 'big.ts'), content);
  // Killed the moment its temp file appears: the bytes have arrived and are being written.
  const incoming = (b: BoxProcess): string => path.join(b.baseDirectory, '.incoming');
  const victim = await eventually(() => boxes.find((b) => existsSync(incoming(b)) && readdirSync(incoming(b)).length > 0), 60_000, 1);
  if (victim === undefined) throw new Error('no box started writing the file');
  await victim.kill();
  const survivor = boxes.find((b) => b !== victim) as BoxProcess;
  const leftAtKill = filesUnder(incoming(victim));
  t.pass(`${victim.boxId} killed while writing (temp files at the kill: ${leftAtKill.length})`);

  const holders = await eventually(async () => {
    const held = Object.keys(await r.hgetall(`${pub.id}:FILE:PROCESSED_FILES:live/big.ts`));
    return held.length === 1 ? held : undefined;
  }, 60_000);
  t.same(holders, [survivor.boxId], 'the copy went to the other box');
  t.equal(sha(readFileSync(path.join(survivor.baseDirectory, pub.id, 'live', 'big.ts'))), sha(content), 'whole there, by SHA-256');

  const restarted = spawnBox(t, opts[boxes.indexOf(victim)] as (typeof opts)[number]);
  const back = await eventually(async () => (await r.zscore(`${entrance.id}:BOX_SET`, restarted.boxId)) !== null && pub.publisher.pool.get(restarted.boxId)?.conn?.ready === true, 30_000);
  t.ok(back, explained(back, 'the killed box is back', restarted));
  t.same(filesUnder(incoming(restarted)), [], 'no temp file left after the restart');
  // Anything it holds is a whole file: nothing of big.ts, or (renamed just before the kill) all of it.
  const bigPath = path.join(pub.id, 'live', 'big.ts');
  for (const f of filesUnder(restarted.baseDirectory)) {
    if (f === bigPath) t.equal(sha(readFileSync(path.join(restarted.baseDirectory, f))), sha(content), 'a copy renamed before the kill is whole');
    else t.fail(`unexpected file ${f} after the restart`);
  }
  const httpUrl = pub.publisher.pool.get(restarted.boxId)?.httpUrl?.replace(/\/$/, '');
  const served = await fetch(`${httpUrl}/${pub.id}/live/big.ts`);
  const body = Buffer.from(await served.arrayBuffer());
  t.ok(served.status === 404 || (served.status === 200 && sha(body) === sha(content)), `the box serves no part of the file (${served.status}, ${body.length} bytes)`);
});
