// A box whose disk fills (its BASE_DIRECTORY on a small tmpfs): files are refused with E_DISK_FULL
// and no other code, and the disk reserve holds, even when several arrive at once; nothing it stored
// is corrupted (SHA-256 of every file, no temp file left); it accepts again when space returns (the
// tmpfs grown).
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { eventually, startAgent } from '../helpers/agent.js';
import { atDeath } from '../helpers/children.js';
import { REAL_BOXES, startEntrance } from '../helpers/entrance.js';
import { startPublisher } from '../helpers/publisher.js';
import { startRedis } from '../helpers/redis.js';
import { freePort } from '../../shared/src/listen.js';
import { filesUnder, metricByLabel, tempDir } from './processes.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const MiB = 1024 * 1024;

/** A tmpfs of `mb` MiB on `dir`, unmounted (lazily: a process may still hold it) at the teardown. */
function mountTmpfs(t: { teardown(fn: () => unknown): void }, dir: string, mb: number): void {
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mb}m,mode=0755`, 'dandelion-fault', dir]);
  const unmount = (): void => {
    try {
      execFileSync('umount', ['-l', dir]);
    } catch {
      /* intentional: already unmounted */
    }
  };
  const undo = atDeath(unmount);
  t.teardown(() => {
    undo();
    unmount();
  });
}

t.test('disk full: E_DISK_FULL, nothing corrupted, accepts again when space returns', async (t) => {
  const dir = tempDir(t, 'dandelion-fault-disk-');
  const base = path.join(dir, 'disk');
  mkdirSync(base);
  mountTmpfs(t, base, 10);
  const redis = await startRedis(t);
  const r = redis.client();
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: REAL_BOXES });
  const metricsPort = await freePort();
  const files = path.join(base, 'files');
  await startAgent(t, {
    redisUrl: redis.url, entranceUrls: [entrance.url], boxId: 'box-full',
    env: { DANDELION_BASE_DIRECTORY: files, DANDELION_DISK_RESERVE_MB: '1', DANDELION_METRICS_PORT: String(metricsPort) },
  });
  const pub = await startPublisher(t, { redisUrl: redis.url, entranceUrls: [entrance.url], env: { DANDELION_REPLICAS: '1', DANDELION_AUDIT_RATE: '0' } });
  t.ok(await eventually(() => pub.publisher.pool.ready().length === 1, 30_000), 'the box is ready');

  const sent = new Map<string, Buffer>();
  const send = (name: string): void => {
    const content = randomBytes(MiB);
    sent.set(name, content);
    writeFileSync(path.join(pub.watchDirectory, 'live', name), content);
  };
  const holders = async (name: string): Promise<number> => Object.keys(await r.hgetall(`${pub.id}:FILE:PROCESSED_FILES:live/${name}`)).length;
  mkdirSync(path.join(pub.watchDirectory, 'live'), { recursive: true });
  // Sixteen 1 MiB files at once into 10 MiB less a 1 MiB reserve: the publisher sends several together.
  for (let i = 0; i < 16; i++) send(`s${i}.ts`);
  const refused = await eventually(async () => {
    const codes = await metricByLabel(metricsPort, 'dandelion_files_refused_total', 'code');
    const stored = (await Promise.all([...sent.keys()].map(holders))).reduce((a, b) => a + b, 0);
    const count = Object.values(codes).reduce((a, b) => a + b, 0);
    return stored + count === 16 ? { codes, stored } : undefined;
  }, 60_000, 200);
  t.ok(refused, 'every file stored or refused');
  t.ok((refused?.codes.E_DISK_FULL ?? 0) > 0, `some refused with E_DISK_FULL (stored ${refused?.stored})`);
  t.same(Object.keys(refused?.codes ?? {}).filter((code) => code !== 'E_DISK_FULL'), [], `no other refusal code: ${JSON.stringify(refused?.codes)}`);

  const checkStored = (when: string): void => {
    const held = filesUnder(files);
    t.same(held.filter((f) => f.startsWith('.incoming')), [], `${when}: no temp file left`);
    let whole = 0;
    for (const f of held.filter((f) => f.startsWith(pub.id))) {
      const expected = sent.get(path.basename(f));
      if (expected && sha(readFileSync(path.join(files, f))) === sha(expected)) whole += 1;
      else t.fail(`${when}: ${f} is not what was sent`);
    }
    t.ok(whole > 0, `${when}: ${whole} files stored, each whole by SHA-256`);
  };
  checkStored('disk full');
  const fs = statfsSync(files);
  t.ok(fs.bavail * fs.bsize >= MiB, `the 1 MiB reserve was kept though files arrived together (${fs.bavail * fs.bsize} bytes free)`);
  const storedWhenFull = filesUnder(path.join(files, pub.id)).length;

  // Space returns: the same filesystem grown.
  execFileSync('mount', ['-o', 'remount,size=64m', base]);
  send('after.ts');
  t.ok(await eventually(async () => (await holders('after.ts')) === 1, 30_000), 'a file is accepted again once there is space');
  checkStored('space back');
  t.equal(filesUnder(path.join(files, pub.id)).length, storedWhenFull + 1, 'the files stored while full are all still there');
});
