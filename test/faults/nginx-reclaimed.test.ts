// An agent killed with SIGKILL leaves its managed nginx running (its own process group; outside systemd
// nothing else ends it). Started again on the same run directory, the agent stops that nginx before it
// starts its own: afterwards exactly one nginx master runs for the run directory, and it serves. A pid
// file that names a stranger (a recycled pid, or the nginx of another run directory) is never signalled.
// ~16 s: the agent starts four times.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { freePort } from '../../shared/src/listen.js';
import { eventually, killNginxMastersOf, nginxMastersOf, nginxPortOf } from '../helpers/agent.js';
import { isRunning, track } from '../helpers/children.js';
import { startEntrance } from '../helpers/entrance.js';
import { startRedis } from '../helpers/redis.js';
import { explained, spawnBox, tempDir } from './processes.js';
import type { BoxProcess } from './processes.js';

const PLAYLIST = '#EXTM3U\n#EXT-X-VERSION:3\n';

/** The playlist through the nginx of `runDirectory`, by the port its nginx.conf names now. */
async function served(runDirectory: string): Promise<string | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${nginxPortOf(runDirectory)}/publisher-reclaim/live/index.m3u8`);
    return res.status === 200 ? await res.text() : undefined;
  } catch {
    return undefined;
  }
}

/** A running agent: one nginx master for its run directory, serving the playlist. */
async function serving(box: BoxProcess, notPid?: number): Promise<number | undefined> {
  const masters = nginxMastersOf(box.runDirectory);
  if (masters.length !== 1 || masters[0] === notPid) return undefined;
  return (await served(box.runDirectory)) === PLAYLIST ? masters[0] : undefined;
}

t.test('a SIGKILLed agent started again stops the nginx it left, and only that one', async (t) => {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url });
  const opts = { redisUrl: redis.url, entranceUrls: [entrance.url], boxId: 'box-reclaim', dir: tempDir(t, 'dandelion-reclaim-') };
  const runDirectory = path.join(opts.dir, 'run');
  t.teardown(() => killNginxMastersOf(runDirectory));
  mkdirSync(path.join(opts.dir, 'files', 'publisher-reclaim', 'live'), { recursive: true });
  writeFileSync(path.join(opts.dir, 'files', 'publisher-reclaim', 'live', 'index.m3u8'), PLAYLIST);

  const first = spawnBox(t, opts);
  const oldMaster = await eventually(() => serving(first), 30_000);
  t.ok(oldMaster, explained(oldMaster, 'the agent runs its nginx, which serves', first));
  t.equal(await first.kill(), 'SIGKILL');
  await new Promise((r) => setTimeout(r, 300));
  t.same(nginxMastersOf(runDirectory), [oldMaster], 'kill -9 of the agent leaves its nginx running');
  t.equal(await served(runDirectory), PLAYLIST, 'and serving');

  const second = spawnBox(t, opts);
  const newMaster = await eventually(() => serving(second, oldMaster), 30_000);
  t.ok(newMaster, explained(newMaster, 'started again: exactly one nginx master for the run directory, a new one, and it serves', second));
  t.notOk(isRunning(oldMaster as number), 'the leftover master is gone');
  t.match(second.output(), /stopping an nginx left over from an earlier run/);

  // Strangers: the pid file names a process that is no nginx (a recycled pid), then the nginx master of
  // another run directory whose path ends with this one's (its nginx.conf path holds ours). Neither is signalled.
  t.equal(await second.kill(), 'SIGKILL');
  const leftover = nginxMastersOf(runDirectory);
  killNginxMastersOf(runDirectory);
  await eventually(() => leftover.every((pid) => !isRunning(pid)), 5000);
  const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
  track(sleeper);
  t.teardown(() => sleeper.kill('SIGKILL'));
  const otherRun = path.join(opts.dir, 'elsewhere', runDirectory);
  const other = await startBareNginx(t, otherRun);
  for (const [who, pid] of [['a process that is no nginx', sleeper.pid as number], ["another run directory's nginx master", other]] as const) {
    writeFileSync(path.join(runDirectory, 'nginx.pid'), `${pid}\n`);
    const box = spawnBox(t, opts);
    const master = await eventually(() => serving(box), 30_000);
    t.ok(master, explained(master, `with the pid file naming ${who}, the agent starts its nginx`, box));
    t.ok(isRunning(pid), `and ${who} is left alone`);
    t.notMatch(box.output(), /left over/, 'nothing is called a leftover');
    t.equal(await box.kill(), 'SIGKILL');
    killNginxMastersOf(runDirectory);
    await eventually(() => nginxMastersOf(runDirectory).length === 0, 5000);
  }
});

/** A plain nginx master with `-p dir` (as the agent starts its own), on a free loopback port. */
async function startBareNginx(t: { teardown(fn: () => unknown): void }, dir: string): Promise<number> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `${k}_temp_path ${dir};`).join(' ');
  writeFileSync(conf, `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\nhttp { access_log off; ${temp} server { listen 127.0.0.1:${port}; } }\n`);
  const child = spawn('nginx', ['-c', conf, '-p', dir, '-e', path.join(dir, 'error.log')], { stdio: 'ignore', detached: true });
  track(child);
  t.teardown(() => killNginxMastersOf(dir));
  const pid = await eventually(() => nginxMastersOf(dir)[0], 10_000);
  if (pid === undefined) throw new Error('the stranger nginx did not start');
  return pid;
}
