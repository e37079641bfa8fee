// Updates over the air with the real x64 binary (test/binary/update-binaries.ts builds it with a test
// release key, cached by input hash), started as on a box: firmware-image/dandelion-agent-run --slots DIR
// FACTORY agent, restarted whenever it ends as systemd's Restart=always does. The offers come in EXCHANGE
// replies of an entrance stand-in (test/helpers/certify-stand-in.ts) until the entrance's rollouts
// (branch i21-entrance) are merged; the release binaries come from an HTTP server here that answers Range.
//   1. v1 (factory) → v2: kill -9 in the middle of the download, resumed by Range; kill -9 of the trial
//      before it is confirmed (the launcher starts it again); confirmed once an entrance accepts it; a
//      kill -9 of the confirmed v2 starts v2 again.
//   2. a release signed by another key is refused, reported, and nothing on disk changes.
//   3. v3, which exits at start, is rolled back to v2 by the launcher within UPDATE_CONFIRM_S, and the
//      box reports UPDATE_FAILED 3.0.0.
//   4. v4, which runs but never registers as 4.0.0 (the v1 binary signed as 4.0.0), is stopped by the
//      launcher's watchdog at its deadline and rolled back to v2.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { publicKeyText } from '../../shared/src/enrolment/codec.js';
import { releaseKeyIdOf, signRelease } from '../../shared/src/release/manifest.js';
import { eventually, killNginxGroup, testAgentEnv } from '../helpers/agent.js';
import { startCertifyStandIn } from '../helpers/certify-stand-in.js';
import { track } from '../helpers/children.js';
import { startRedis } from '../helpers/redis.js';
import { startReleaseServer } from '../helpers/release-server.js';
import { testBinary, testReleaseKey } from './update-binaries.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const LAUNCHER = path.join(ROOT, 'firmware-image', 'dandelion-agent-run');
const CONFIRM_S = 10;

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
  const dir = t.testdir();
  const factory = path.join(dir, 'factory', 'dandelion');
  mkdirSync(path.dirname(factory));
  copyFileSync(v1.file, factory);
  chmodSync(factory, 0o755);
  const releases = new Map<string, Release>([['2.0.0', release('2.0.0', readFileSync(v2.file))]]);
  // v3 exits at start: the release a bad build would be, signed as any other.
  releases.set('3.0.0', release('3.0.0', Buffer.from('#!/bin/sh\necho "v3 cannot start" >&2\nexit 3\n')));

  const server = await startReleaseServer(t);
  for (const [version, r] of releases) server.binaries.set(version, r.body);
  const { base, served } = server;

  // The entrance stand-in: offers `offer` to a box not running it and not reporting it failed; `hold`
  // refuses the EXCHANGE of that version (an entrance the new agent cannot register with, for now).
  let offer: Record<string, unknown> | undefined;
  let hold = false;
  const standIn = await startCertifyStandIn(t, {
    domain: 'boxes.test', answer: () => ({ error: 'no certificates here', code: 'E_CERTIFY' }),
    reply: (msg) => {
      if (hold && offer && msg.AGENT_VERSION === offer.VERSION) return { ERROR: 'not now', ERROR_CODE: 'E_BUSY' };
      if (!offer || msg.AGENT_VERSION === offer.VERSION || msg.UPDATE_FAILED === offer.VERSION) return {};
      return { UPDATE: offer };
    },
  });
  const redis = await startRedis(t);
  const boxId = 'box-update1';
  const slots = path.join(dir, 'update');
  const runDirectory = path.join(dir, 'run');
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin', WATCHDOG_USEC: '3000000',
    ...testAgentEnv({ redisUrl: redis.url, entranceUrls: [standIn.url], boxId, baseDirectory: path.join(dir, 'files'), runDirectory, env: { DANDELION_HTTPS: 'off', DANDELION_UPDATE_DIRECTORY: slots, DANDELION_UPDATE_CONFIRM_S: String(CONFIRM_S), DANDELION_LOG_LEVEL: 'warn' } }),
  };

  // systemd's part: start the launcher, and again 0.3 s after each end, until the test is over.
  let child: ChildProcess | undefined;
  let stopped = false;
  const exits: Array<number | string> = [];
  let log = '';
  const launch = (): void => {
    const p = spawn(LAUNCHER, ['--slots', slots, factory, 'agent'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    track(p);
    child = p;
    p.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    p.on('exit', (code, signal) => {
      exits.push(code ?? String(signal));
      killNginxGroup(runDirectory); // systemd's KillMode: nothing of the last run outlives it
      if (!stopped) setTimeout(launch, 300);
    });
  };
  t.teardown(async () => {
    stopped = true;
    child?.kill('SIGTERM');
    await eventually(() => child?.exitCode !== null || child.signalCode !== null, 10_000);
    killNginxGroup(runDirectory);
  });
  const exchange = (): Record<string, unknown> => standIn.lastExchange.get(boxId) ?? {};
  const state = (): string => (existsSync(path.join(slots, 'state')) ? readFileSync(path.join(slots, 'state'), 'utf8') : '');
  const on = async (what: string, check: () => boolean, ms = 30_000): Promise<void> => {
    t.ok(await eventually(check, ms, 100), what);
  };

  launch();
  await on('v1, the factory binary, reports its version', () => exchange().AGENT_VERSION === '1.0.0' && exchange().AGENT_ARCH === 'x64');
  t.match(exchange(), { AGENT_PREVIOUS_VERSION: '', UPDATE_FAILED: '' });

  // 1. v1 → v2, with a kill -9 mid-download and one of the unconfirmed trial.
  const r2 = releases.get('2.0.0') as Release;
  server.slow = true;
  offer = { ACTION: 'install', VERSION: '2.0.0', ROLLOUT: 'rollout-test', RELEASE: r2.line, URL: `${base}/releases/2.0.0/x64` };
  const part = path.join(slots, 'download.part');
  await on('the download starts', () => existsSync(part) && statSync(part).size > 8 * 1024 * 1024);
  const killedAt = statSync(part).size;
  child?.kill('SIGKILL');
  server.slow = false;
  hold = true;
  await on('after kill -9, v1 starts again and resumes the download by Range', () => served.some((s) => /^2\.0\.0 bytes=\d+-$/.test(s)));
  t.ok(Number(/bytes=(\d+)-/.exec(served.find((s) => s.includes('bytes=')) ?? '')?.[1]) >= killedAt, 'from where it stopped');
  await on('v2 staged as a trial in slot a; the agent exited 75', () => /trial=a\ntrial_version=2\.0\.0/.test(state()) && exits.includes(75));
  t.same(readFileSync(path.join(slots, 'slot-a', 'dandelion')), r2.body, 'the slot holds the signed binary');
  await on('the trial v2 runs (its EXCHANGE refused for now)', () => /trial_starts=1\n/.test(state()) && exchange().AGENT_VERSION === '2.0.0');
  child?.kill('SIGKILL');
  await on('kill -9 of the unconfirmed trial: the launcher starts it again', () => /trial_starts=2\n/.test(state()));
  hold = false;
  await on('v2 confirmed once an entrance accepts it', () => /^current=a\ncurrent_version=2\.0\.0\nprevious=factory\nprevious_version=1\.0\.0\ntrial=\n/.test(state()));
  await on('and reported', () => exchange().AGENT_VERSION === '2.0.0' && exchange().AGENT_PREVIOUS_VERSION === '1.0.0');
  const v2At = Date.now();
  const confirmedState = state();
  const killed = exits.length;
  child?.kill('SIGKILL');
  await on('kill -9 of the confirmed v2 ends it', () => exits.length > killed);
  standIn.lastExchange.delete(boxId);
  await on('and it starts again from its slot', () => exchange().AGENT_VERSION === '2.0.0' && exchange().AGENT_PREVIOUS_VERSION === '1.0.0');
  t.equal(state(), confirmedState, 'and the state is as it was');

  // 2. Signed by a key this build does not trust: refused, reported, nothing on disk changes.
  const files = (): string => readdirSync(slots, { recursive: true }).map(String).sort().map((f) => `${f}:${statSync(path.join(slots, f)).isFile() ? createHash('sha256').update(readFileSync(path.join(slots, f))).digest('hex') : 'dir'}`).join('\n');
  const before = files();
  const foreign = release('2.1.0', r2.body, generateKeyPairSync('ed25519').privateKey);
  server.binaries.set('2.1.0', foreign.body);
  offer = { ACTION: 'install', VERSION: '2.1.0', ROLLOUT: 'rollout-test', RELEASE: foreign.line, URL: `${base}/releases/2.1.0/x64` };
  await on('a foreign release is refused and reported', () => exchange().UPDATE_FAILED === '2.1.0');
  t.match(exchange().UPDATE_FAILED_REASON, /not a release key this build trusts/);
  t.equal(files(), before, 'nothing in UPDATE_DIRECTORY changed');
  t.notOk(served.some((s) => s.startsWith('2.1.0')), 'nothing was downloaded');

  // 3. v3 exits at start: three starts, then the launcher goes back to v2 and the box reports it.
  const r3 = releases.get('3.0.0') as Release;
  offer = { ACTION: 'install', VERSION: '3.0.0', ROLLOUT: 'rollout-test', RELEASE: r3.line, URL: `${base}/releases/3.0.0/x64` };
  await on('v3 staged in slot b', () => /trial=b\ntrial_version=3\.0\.0/.test(state()));
  const trialAt = Date.now();
  await on('v3 rolled back to v2 by the launcher', () => /^current=a\n/.test(state()) && /failed_version=3\.0\.0\nfailed_reason=exited 3 times without registering/.test(state()));
  const rollbackMs = Date.now() - trialAt;
  t.ok(rollbackMs < CONFIRM_S * 1000, `within UPDATE_CONFIRM_S (${rollbackMs} ms)`);
  t.match(log, /v3 cannot start/);
  await on('v2 runs again and reports the failed v3', () => exchange().AGENT_VERSION === '2.0.0' && exchange().UPDATE_FAILED === '3.0.0');
  t.match(exchange().UPDATE_FAILED_REASON, /exited 3 times/);

  // 4. A trial that runs but is never confirmed: the watchdog's deadline.
  const r4 = release('4.0.0', readFileSync(v1.file));
  server.binaries.set('4.0.0', r4.body);
  offer = { ACTION: 'install', VERSION: '4.0.0', ROLLOUT: 'rollout-test', RELEASE: r4.line, URL: `${base}/releases/4.0.0/x64` };
  await on('v4 staged in slot b', () => /trial=b\ntrial_version=4\.0\.0/.test(state()));
  const v4At = Date.now();
  await on('v4 stopped at its deadline and rolled back to v2', () => /^current=a\n/.test(state()) && /failed_version=4\.0\.0\nfailed_reason=did not register within the deadline/.test(state()), 60_000);
  const v4Ms = Date.now() - v4At;
  t.ok(v4Ms < (CONFIRM_S + 15) * 1000, `by the deadline, plus the watchdog's second and a restart (${v4Ms} ms)`);
  t.match(log, /4\.0\.0 in slot b was not confirmed by its deadline; stopping it/);
  await on('v2 runs again and reports the failed v4', () => exchange().AGENT_VERSION === '2.0.0' && exchange().UPDATE_FAILED === '4.0.0');
  t.comment(`v2 confirmed ${Math.round((v2At - started) / 1000)} s after the start; the whole test took ${Math.round((Date.now() - started) / 1000)} s`);
});
