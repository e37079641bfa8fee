// Updates over the air with the real x64 binary (test/helpers/update-binaries.ts builds it with a test
// release key, cached by input hash), started as on a box: firmware-image/dandelion-agent-run --slots DIR
// FACTORY agent, restarted whenever it ends as systemd's Restart=always does. A real entrance (real Redis)
// holds the signed releases (its ReleaseStore) and runs a rollout to 100 % of each (its API); the box gets
// the offers in its EXCHANGE replies and downloads from the entrance's release route, through a proxy
// (test/helpers/entrance-proxy.ts) that can pace the download and keep the box off the entrance.
//   1. v1 (factory) → v2: kill -9 in the middle of the download, resumed by Range; kill -9 of the trial
//      before it is confirmed (the launcher starts it again); confirmed once an entrance accepts it; a
//      kill -9 of the confirmed v2 starts v2 again.
//   2. a release signed by another key is refused, reported (the entrance counts the failure), and nothing
//      on disk changes.
//   3. v3, which exits at start, is rolled back to v2 by the launcher within UPDATE_CONFIRM_S; the box
//      reports UPDATE_FAILED 3.0.0 and the entrance's rollout counts it.
//   4. v4, which runs but never registers as 4.0.0 (the v1 binary signed as 4.0.0), is stopped by the
//      launcher's watchdog at its deadline and rolled back to v2.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { publicKeyText } from '../../shared/src/enrolment/codec.js';
import { releaseKeyIdOf, signRelease } from '../../shared/src/release/manifest.js';
import { hashPassword } from '../../shared/src/password.js';
import { releaseKeys } from '../../shared/src/redis-keys.js';
import { ReleaseStore } from '../../entrance/src/updates/release-store.js';
import { eventually, killNginxGroup, testAgentEnv } from '../helpers/agent.js';
import { track } from '../helpers/children.js';
import { startEntrance } from '../helpers/entrance.js';
import { startEntranceProxy } from '../helpers/entrance-proxy.js';
import { startRedis } from '../helpers/redis.js';
import { rolloutApi } from '../helpers/rollout-api.js';
import { testBinary, testReleaseKey } from '../helpers/update-binaries.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const LAUNCHER = path.join(ROOT, 'firmware-image', 'dandelion-agent-run');
const CONFIRM_S = 10;
const TOKEN = 'update-test-token';

interface Release { version: string; body: Buffer; line: string }

function release(version: string, body: Buffer, key = testReleaseKey()): Release {
  const line = signRelease({
    PRODUCT: 'dandelion-agent', VERSION: version, ARCH: 'x64', SIZE: body.length, SHA256: createHash('sha256').update(body).digest('hex'),
    MIN_FROM_VERSION: '0.0.0', ALLOW_DOWNGRADE: false, CREATED: Math.floor(Date.now() / 1000), KEY_ID: releaseKeyIdOf(publicKeyText(key)),
  }, key);
  return { version, body, line };
}

t.test('the x64 binary updates itself v1 → v2, refuses a foreign release, rolls back a v3 that crashes and a v4 that never registers', async (t) => {
  const started = Date.now();
  const v1 = testBinary('1.0.0');
  const v2 = testBinary('2.0.0');
  t.comment(`binaries: v1 ${v1.built === 'cached' ? 'cached' : `built in ${v1.built} ms`}, v2 ${v2.built === 'cached' ? 'cached' : `built in ${v2.built} ms`}`);
  // Not t.testdir(): tap removes that in a teardown registered first, so it would run while the agent still
  // writes there; this one is removed by the teardown below, once the agent has stopped.
  const dir = mkdtempSync(path.join(tmpdir(), 'agent-update-'));
  const factory = path.join(dir, 'factory', 'dandelion');
  mkdirSync(path.dirname(factory));
  copyFileSync(v1.file, factory);
  chmodSync(factory, 0o755);
  const releases = new Map<string, Release>([['2.0.0', release('2.0.0', readFileSync(v2.file))]]);
  // v3 exits at start: the release a bad build would be, signed as any other.
  releases.set('3.0.0', release('3.0.0', Buffer.from('#!/bin/sh\necho "v3 cannot start" >&2\nexit 3\n')));

  const redis = await startRedis(t);
  // The real entrance, trusting the test key, behind a proxy its ENTRANCE_URL names (so the offers' URLs do
  // too): the proxy paces a download for a kill -9 and holds the box off the entrance while a trial runs.
  const proxy = await startEntranceProxy(t);
  const entranceUrl = `ws://127.0.0.1:${proxy.port}/dandelion/ws/`;
  const trusted = new Map([[releaseKeyIdOf(publicKeyText(testReleaseKey())), createPublicKey(testReleaseKey())]]);
  const { entrance, url: ownUrl } = await startEntrance(t, {
    redisUrl: redis.url, releaseKeys: trusted,
    env: { DANDELION_ENTRANCE_URL: entranceUrl, DANDELION_API_TOKENS: JSON.stringify([await hashPassword(TOKEN)]), DANDELION_ENTRANCE_SWEEP_FREQ: '60' },
  });
  t.equal(ownUrl, entranceUrl, 'the entrance tells boxes the proxy');
  proxy.target = (entrance.server.address() as AddressInfo).port;
  const store = new ReleaseStore(redis.client(), () => trusted);
  for (const r of releases.values()) await store.upload(r.line, [r.body]);
  const { rollout, rollOut } = rolloutApi(() => proxy.target, TOKEN, () => entrance.tick());
  const { served } = proxy;
  const boxId = 'box-update1';
  const slots = path.join(dir, 'update');
  const runDirectory = path.join(dir, 'run');
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin', WATCHDOG_USEC: '3000000',
    ...testAgentEnv({ redisUrl: redis.url, entranceUrls: [entranceUrl], boxId, baseDirectory: path.join(dir, 'files'), runDirectory, env: { DANDELION_HTTPS: 'off', DANDELION_UPDATE_DIRECTORY: slots, DANDELION_UPDATE_CONFIRM_S: String(CONFIRM_S), DANDELION_LOG_LEVEL: 'warn' } }),
  };

  // systemd's part: start the launcher, and again 0.3 s after each end, until the test is over.
  let child: ChildProcess | undefined;
  let stopped = false;
  const exits: Array<number | string> = [];
  let log = '';
  const launch = (): void => {
    // A restart scheduled just before the teardown set `stopped` must not start another run.
    if (stopped) return;
    // Its own process group, as a systemd unit's cgroup: the teardown can end whatever of it is left.
    const p = spawn(LAUNCHER, ['--slots', slots, factory, 'agent'], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    track(p);
    child = p;
    // The launcher's and the agent's logs (the agent's on stdout: the reason of an update it refused).
    p.stdout?.on('data', (d: Buffer) => (log += d.toString()));
    p.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    p.on('exit', (code, signal) => {
      exits.push(code ?? String(signal));
      killNginxGroup(runDirectory); // systemd's KillMode: nothing of the last run outlives it
      if (!stopped) setTimeout(launch, 300);
    });
  };
  t.teardown(async () => {
    stopped = true;
    const last = child;
    last?.kill('SIGTERM');
    const ended = async () => last === undefined || last.exitCode !== null || last.signalCode !== null;
    // systemd's TimeoutStopSec, then its SIGKILL of the whole unit: a slow stop on a loaded machine must not
    // leave an agent writing into the test's directory while tap removes it.
    if (!(await eventually(ended, 30_000)) && last?.pid !== undefined) {
      try { process.kill(-last.pid, 'SIGKILL'); } catch { /* already gone */ }
      await eventually(ended, 5_000);
    }
    killNginxGroup(runDirectory);
    rmSync(dir, { recursive: true, force: true });
  });
  // What the entrance heard from the box: its last AGENT_VERSION, AGENT_ARCH, AGENT_PREVIOUS_VERSION, when.
  const versionKey = releaseKeys().boxVersions;
  const reported = async (): Promise<{ VERSION?: string; ARCH?: string; PREVIOUS?: string; SEEN?: number }> => JSON.parse((await redis.client().hget(versionKey, boxId)) ?? '{}');
  const state = (): string => (existsSync(path.join(slots, 'state')) ? readFileSync(path.join(slots, 'state'), 'utf8') : '');
  const on = async (what: string, check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> => {
    t.ok(await eventually(check, ms, 100), what);
  };
  // The entrance recorded the box's UPDATE_FAILED for the current rollout's version.
  const failedAtEntrance = async (version: string): Promise<boolean> => {
    const r = await rollout();
    return r.VERSION === version && r.FAILED === 1 && (await redis.client().zscore(releaseKeys().failed(String(r.ID)), boxId)) !== null;
  };

  launch();
  await on('v1, the factory binary, reports its version to the entrance', async () => (await reported()).VERSION === '1.0.0');
  t.match(await reported(), { ARCH: 'x64', PREVIOUS: '' });

  // 1. v1 → v2 through the entrance's rollout and download route, with a kill -9 mid-download and one of the
  //    unconfirmed trial.
  const r2 = releases.get('2.0.0') as Release;
  proxy.slow = true;
  await rollOut('2.0.0');
  const part = path.join(slots, 'download.part');
  await on('the download from the entrance starts', () => existsSync(part) && statSync(part).size > 8 * 1024 * 1024);
  t.same(served[0], '/dandelion/releases/2.0.0/x64 whole', 'from the URL of the entrance\'s offer');
  const killedAt = statSync(part).size;
  child?.kill('SIGKILL');
  await on('after kill -9, v1 starts again and resumes the download by Range', () => served.some((s) => /^\/dandelion\/releases\/2\.0\.0\/x64 bytes=\d+-$/.test(s)));
  // Off the entrance from now on (the download goes on), so the trial cannot be confirmed yet.
  proxy.hold(true);
  proxy.slow = false;
  t.ok(Number(/bytes=(\d+)-/.exec(served.find((s) => s.includes('bytes=')) ?? '')?.[1]) >= killedAt, 'from where it stopped');
  await on('v2 staged as a trial in slot a; the agent exited 75', () => /trial=a\ntrial_version=2\.0\.0/.test(state()) && exits.includes(75));
  t.same(readFileSync(path.join(slots, 'slot-a', 'dandelion')), r2.body, 'the slot holds the signed binary');
  const refused = proxy.refused;
  await on('the trial v2 runs (no entrance in reach for now)', () => /trial_starts=1\n/.test(state()) && proxy.refused > refused);
  child?.kill('SIGKILL');
  await on('kill -9 of the unconfirmed trial: the launcher starts it again', () => /trial_starts=2\n/.test(state()));
  proxy.hold(false);
  await on('v2 confirmed once the entrance accepts it', () => /^current=a\ncurrent_version=2\.0\.0\nprevious=factory\nprevious_version=1\.0\.0\ntrial=\n/.test(state()));
  await on('and reported', async () => (await reported()).VERSION === '2.0.0' && (await reported()).PREVIOUS === '1.0.0');
  t.match(await rollout(), { VERSION: '2.0.0', OFFERED: 1, UPDATED: 1, FAILED: 0 }, 'the entrance counts it updated');
  const v2At = Date.now();
  const confirmedState = state();
  const killed = exits.length;
  child?.kill('SIGKILL');
  await on('kill -9 of the confirmed v2 ends it', () => exits.length > killed);
  const killedV2At = Date.now();
  await on('and it starts again from its slot', async () => {
    const r = await reported();
    return r.VERSION === '2.0.0' && r.PREVIOUS === '1.0.0' && (r.SEEN ?? 0) > killedV2At;
  });
  t.equal(state(), confirmedState, 'and the state is as it was');

  // 2. Signed by a key this build does not trust: refused, reported, nothing on disk changes. The entrance
  //    refuses such an upload (entrance/test/updates/releases.test.ts), so its manifest line is put straight
  //    into the releases hash: a stand-in for a compromised or misconfigured entrance, which the box must
  //    survive on its own. No binary is stored: the box must refuse before downloading anything.
  const files = (): string => readdirSync(slots, { recursive: true }).map(String).sort().map((f) => `${f}:${statSync(path.join(slots, f)).isFile() ? createHash('sha256').update(readFileSync(path.join(slots, f))).digest('hex') : 'dir'}`).join('\n');
  const before = files();
  const foreign = release('2.1.0', r2.body, generateKeyPairSync('ed25519').privateKey);
  await redis.client().hset(releaseKeys().releases, '2.1.0:x64', foreign.line);
  const servedBefore = served.length;
  await rollOut('2.1.0');
  await on('a foreign release is refused, and the entrance records the failure', () => failedAtEntrance('2.1.0'));
  t.match(log, /not a release key this build trusts/);
  t.equal(files(), before, 'nothing in UPDATE_DIRECTORY changed');
  t.equal(served.length, servedBefore, 'nothing was downloaded');

  // 3. v3 exits at start: three starts, then the launcher goes back to v2 and the box reports it.
  await rollOut('3.0.0');
  await on('v3 staged in slot b', () => /trial=b\ntrial_version=3\.0\.0/.test(state()));
  const trialAt = Date.now();
  await on('v3 rolled back to v2 by the launcher', () => /^current=a\n/.test(state()) && /failed_version=3\.0\.0\nfailed_reason=exited 3 times without registering/.test(state()));
  const rollbackMs = Date.now() - trialAt;
  t.ok(rollbackMs < CONFIRM_S * 1000, `within UPDATE_CONFIRM_S (${rollbackMs} ms)`);
  t.match(log, /v3 cannot start/);
  await on('v2 runs again and the entrance records the failed v3 against its rollout', async () => (await reported()).VERSION === '2.0.0' && (await failedAtEntrance('3.0.0')));
  t.match(log, /exited 3 times/);
  await entrance.tick();
  t.match(await rollout(), { VERSION: '3.0.0', OFFERED: 1, UPDATED: 0, FAILED: 1 }, 'the rollout counts the failure');

  // 4. A trial that runs but is never confirmed: the watchdog's deadline.
  await store.upload(release('4.0.0', readFileSync(v1.file)).line, [readFileSync(v1.file)]);
  await rollOut('4.0.0');
  await on('v4 staged in slot b', () => /trial=b\ntrial_version=4\.0\.0/.test(state()));
  const v4At = Date.now();
  await on('v4 stopped at its deadline and rolled back to v2', () => /^current=a\n/.test(state()) && /failed_version=4\.0\.0\nfailed_reason=did not register within the deadline/.test(state()), 60_000);
  const v4Ms = Date.now() - v4At;
  t.ok(v4Ms < (CONFIRM_S + 15) * 1000, `by the deadline, plus the watchdog's second and a restart (${v4Ms} ms)`);
  t.match(log, /4\.0\.0 in slot b was not confirmed by its deadline; stopping it/);
  await on('v2 runs again and the entrance records the failed v4', async () => (await reported()).VERSION === '2.0.0' && (await failedAtEntrance('4.0.0')));
  t.comment(`v2 confirmed ${Math.round((v2At - started) / 1000)} s after the start; the whole test took ${Math.round((Date.now() - started) / 1000)} s`);
});
