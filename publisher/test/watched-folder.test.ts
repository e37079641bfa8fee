// Only regular files inside the watched folder are sent to boxes or served at /origin/: a symlink (to a
// file outside, to a directory, even to a file inside), a FIFO or a device is logged and never sent; a
// link to `/` is not crawled, and the publisher still starts at once and stops promptly on SIGTERM.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { createLogger } from '../../shared/src/log.js';
import { eventually, startAgent } from '../../test/helpers/agent.js';
import { track } from '../../test/helpers/children.js';
import { REAL_BOXES, startEntrance } from '../../test/helpers/entrance.js';
import { publisherToken } from '../../test/helpers/publisher-account.js';
import { startPublisher } from '../../test/helpers/publisher.js';
import { startRedis } from '../../test/helpers/redis.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/dandelion');

/** A pino logger whose lines the test can read. */
function capturedLog(): { log: ReturnType<typeof createLogger>; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger({ level: 'debug', role: 'publisher', destination }), lines };
}

/** Every file under `dir`, relative to it. */
function filesUnder(dir: string, prefix = ''): string[] {
  let out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const rel = path.join(prefix, e.name);
    if (e.isDirectory()) out = out.concat(filesUnder(path.join(dir, e.name), rel));
    else out.push(rel);
  }
  return out;
}

/**
 * Unblock anything stuck opening `fifo` for reading (the code before this fix did, on a libuv thread
 * the test process needs back): opening it for writing lets that open return.
 */
function unblockFifo(fifo: string): void {
  try {
    closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
  } catch {
    /* intentional: no reader waiting (ENXIO) is the good case */
  }
}

/** A secret outside the folder, a directory tree outside it, and a folder holding links to both, a FIFO and a link to a file inside. */
function hostileFolder(): { outside: string; secret: string; watch: string; fifo: string } {
  const outside = mkdtempSync(path.join(os.tmpdir(), 'dandelion-outside-'));
  const secret = path.join(outside, 'passwd');
  writeFileSync(secret, 'root:x:0:0:root:/root:/bin/bash\n');
  mkdirSync(path.join(outside, 'tree', 'deeper'), { recursive: true });
  writeFileSync(path.join(outside, 'tree', 'inner.ts'), randomBytes(1_000));
  writeFileSync(path.join(outside, 'tree', 'deeper', 'deep.ts'), randomBytes(1_000));
  const watch = path.join(mkdtempSync(path.join(os.tmpdir(), 'dandelion-watch-')), 'live');
  mkdirSync(watch);
  symlinkSync(secret, path.join(watch, 'secret.ts'));
  symlinkSync(path.join(outside, 'tree'), path.join(watch, 'tree'));
  const fifo = path.join(watch, 'fifo.ts');
  execFileSync('mkfifo', [fifo]);
  return { outside, secret, watch, fifo };
}

t.test('only the regular file is sent to a box and served; links and a FIFO are refused with a warning', async (t) => {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: REAL_BOXES });
  const box = await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url], boxId: 'box-watch' });
  const { watch, fifo, outside } = hostileFolder();
  t.teardown(() => unblockFifo(fifo));
  const { log, lines } = capturedLog();
  const pub = await startPublisher(t, { redisUrl: redis.url, entranceUrls: [entrance.url], log, env: { DANDELION_REPLICAS: '1', DANDELION_PUBLISHER_WATCH_DIRECTORY: watch } });
  t.ok(await eventually(() => pub.publisher.pool.ready().length === 1), 'the box is connected');

  // Added while the publisher runs (the entries above were there at start): a link to a file inside
  // the folder is still a link, and a directory link made later is not followed either.
  mkdirSync(path.join(watch, 'hd'));
  const segment = randomBytes(20_000);
  writeFileSync(path.join(watch, 'hd', 'seg1.ts'), segment);
  symlinkSync(path.join(watch, 'hd', 'seg1.ts'), path.join(watch, 'alias.ts'));
  symlinkSync(outside, path.join(watch, 'hd', 'up'));

  // The original's Redis list names files too: a link inside the folder, and a link outside it.
  const linkOutside = path.join(outside, 'link-to-passwd.ts');
  symlinkSync(path.join(outside, 'passwd'), linkOutside);
  await redis.client().rpush(`${pub.id}:FILE:FILES_SENDING_QUEUE`, JSON.stringify({ FILE_PATH: 'secret.ts', TTL: 30 }), JSON.stringify({ FILE_PATH: linkOutside, TTL: 30 }));

  const urls = await eventually(async () => {
    const res = await fetch(`${pub.base}/files/hd/seg1.ts`);
    return res.status === 200 ? ((await res.json()) as { URLS: string[] }).URLS.length > 0 : false;
  });
  t.ok(urls, 'the normal segment reached the box');
  await new Promise((r) => setTimeout(r, 500)); // the watcher's stability wait, for anything else it might have queued
  const drained = await Promise.race([pub.publisher.queue.drained().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 10_000).unref())]);
  t.ok(drained, 'the send queue drains: no send is stuck opening the FIFO');

  const rejected = (await redis.client().lrange(`${pub.id}:FILE:REJECTED`, 0, -1)).map((e) => JSON.parse(e) as { TASK: string; ERROR: string });
  t.equal(rejected.length, 2, 'both queue entries naming a link are kept in REJECTED');
  for (const r of rejected) t.match(r.ERROR, /symbolic link/, `with the reason: ${r.ERROR}`);

  const stored = filesUnder(box.baseDirectory).map((f) => f.split(path.sep).join('/'));
  t.same(stored, [`${pub.id}/hd/seg1.ts`], 'the box holds the segment and nothing else');
  for (const name of ['secret.ts', 'tree/inner.ts', 'tree/deeper/deep.ts', 'fifo.ts', 'alias.ts', 'hd/up/passwd', 'hd/up/tree/inner.ts', 'link-to-passwd.ts']) {
    const res = await fetch(`${pub.base}/origin/${name}`);
    t.equal(res.status, 404, `/origin/${name}: 404`);
    t.notMatch(await res.text(), /root:x/, `/origin/${name} does not leak the file`);
    t.equal((await fetch(`${pub.base}/files/${name}`)).status, 404, `/files/${name}: never indexed`);
  }
  symlinkSync(path.join(outside, 'passwd'), path.join(watch, 'leak.m3u8'));
  const playlist = await fetch(`${pub.base}/hls/leak.m3u8`);
  t.equal(playlist.status, 404, '/hls/ does not read a playlist through a link either');
  t.notMatch(await playlist.text(), /root/, 'nor say what is behind it');
  const origin = await fetch(`${pub.base}/origin/hd/seg1.ts`);
  t.equal(origin.status, 200, 'the regular file is served');
  t.same(Buffer.from(await origin.arrayBuffer()), segment, 'with its bytes');

  const warned = lines.filter((l) => l.level === 'warn').map((l) => String(l.file ?? ''));
  for (const name of ['secret.ts', 'tree', 'fifo.ts', 'alias.ts', 'hd/up']) {
    t.ok(warned.some((f) => f.endsWith(name)), `a warning names ${name}`);
  }
  // (The web server's own lines name the paths this test asked for.)
  const behind = lines.filter((l) => l.mod !== 'web' && /inner\.ts|deep\.ts/.test(JSON.stringify(l)));
  t.same(behind, [], 'nothing behind a link was even looked at');
});

/** inotify watches the process holds: one per directory chokidar watches. */
function inotifyWatches(pid: number): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target = '';
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    if (target !== 'anon_inode:inotify') continue;
    n += readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8').split('\n').filter((l) => l.startsWith('inotify wd:')).length;
  }
  return n;
}

t.test('a link to / is not crawled: the publisher starts at once and stops promptly on SIGTERM', async (t) => {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: REAL_BOXES });
  const { watch, fifo } = hostileFolder();
  t.teardown(() => unblockFifo(fifo));
  symlinkSync('/', path.join(watch, 'root'));
  writeFileSync(path.join(watch, 'seg0.ts'), randomBytes(1_000));
  const run = path.join(path.dirname(watch), 'run');
  const env = {
    ...process.env,
    DANDELION_ID: 'publisher-rootlink',
    DANDELION_REDIS_URL: redis.url,
    DANDELION_ENTRANCE_URLS: JSON.stringify([entrance.url]),
    DANDELION_PUBLISHER_HTTP_IP: '127.0.0.1',
    DANDELION_PUBLISHER_HTTP_PORT: '0',
    DANDELION_PUBLISHER_WATCH_DIRECTORY: watch,
    DANDELION_RUN_DIRECTORY: run,
    DANDELION_METRICS_PORT: '0',
    DANDELION_LOG_LEVEL: 'debug',
  };
  const child = spawn(BIN, ['publisher'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  // Loose: a crawl of the whole filesystem takes minutes; the folder itself takes well under a second.
  t.ok(await eventually(() => out.includes('publisher started'), 30_000), 'started (its watcher is ready)');
  const watches = inotifyWatches(child.pid as number);
  t.ok(watches < 20, `watching only the folder, not the filesystem (${watches} inotify watches)`);
  t.match(out, /"file":"[^"]*\/root"/, 'the link to / is named in a warning');

  const asked = Date.now();
  child.kill('SIGTERM');
  const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000).unref());
  const result = await Promise.race([exited, timeout]);
  t.not(result, 'timeout', `stopped after SIGTERM (within ${Math.round((Date.now() - asked) / 1000)} s)`);
  t.same(result, { code: 0, signal: null }, 'and cleanly (exit 0)');
  t.notMatch(out, /"file":"[^"]*\/root\/[^"]/, 'nothing under the link was looked at');
});

t.test('push: a link the operator names is followed; a FIFO is refused at once and the exit code says so', async (t) => {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: REAL_BOXES });
  await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url], boxId: 'box-push' });
  const r = redis.client();
  await eventually(async () => (await r.zcard(`${entrance.id}:BOX_SET`)) === 1);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dandelion-push-'));
  const real = path.join(dir, 'real.ts');
  writeFileSync(real, randomBytes(5_000));
  symlinkSync(real, path.join(dir, 'named-link.ts'));
  const fifo = path.join(dir, 'pipe.ts');
  execFileSync('mkfifo', [fifo]);
  t.teardown(() => unblockFifo(fifo));
  const env = {
    ...process.env,
    DANDELION_ID: 'publisher-push',
    DANDELION_ENROLMENT_TOKEN: await publisherToken('publisher-push', [entrance.url], redis.url),
    DANDELION_REDIS_URL: redis.url,
    DANDELION_ENTRANCE_URLS: JSON.stringify([entrance.url]),
    DANDELION_PUBLISHER_WATCH_DIRECTORY: path.join(dir, 'live'),
    DANDELION_RUN_DIRECTORY: path.join(dir, 'run'),
    DANDELION_PUBLISHER_PING_ENTRANCE_FREQ: '0.5',
    DANDELION_REPLICAS: '1',
    DANDELION_METRICS_PORT: '0',
  };
  const p = spawn(BIN, ['publisher', 'push', fifo, path.join(dir, 'named-link.ts')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  track(p);
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => p.once('exit', (code) => resolve(code)));
  const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 60_000).unref());
  const code = await Promise.race([exited, timeout]);
  if (code === 'timeout') p.kill('SIGKILL');
  t.equal(code, 1, `exit 1: not every file was sent\n${out}`);
  t.match(out, /REFUSED [^\n]*pipe\.ts: [^\n]*FIFO/, 'the FIFO is refused, saying why');
  t.match(out, /sent named-link\.ts: confirmed by box-push/, 'the link the operator named is sent (its target\'s bytes)');
});
