// kill -9 of the agent at each step of an update leaves a working agent (issue 21). For every failpoint of
// UPDATE_STEPS (agent/src/update/updater.ts): a box is started as on the image, by the launcher
// (firmware-image/dandelion-agent-run --slots DIR FACTORY agent) in a restart loop standing in for systemd's
// Restart=always; its first start has DANDELION_FAILPOINTS naming the step, so the agent SIGKILLs itself
// there (the confirmation's steps in the trial agent, the second start), and every start after the kill
// runs without it. A real entrance (real Redis) holds release 2.0.0 and a
// rollout to 100 %, offers it in the EXCHANGE reply and serves its download. The test asserts that the kill
// came from the step, that the slots and the state are consistent right after it and at every look while
// the box recovers (the state readable, and a slot it names holds exactly that version's release bytes),
// that an agent registers with the entrance after the kill, that the update completes (2.0.0 confirmed,
// nothing rolled back), and that one nginx master runs for the box afterwards (the agent reclaims the one
// its killed run left).
//
// The "binaries" are the compiled agent: each version a copy of build/ with its own build-info.json (its
// version) and release/release-keys.txt (a key made for this test), started by a small script, which is
// what the release carries, so the launcher starts from a slot exactly the bytes that were signed. 4 to 9 s
// per step on a shared 2-core machine, 45 to 100 s in all.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { publicKeyText } from '../../../shared/src/enrolment/codec.js';
import { releaseKeyIdOf, signRelease } from '../../../shared/src/release/manifest.js';
import { releaseKeys } from '../../../shared/src/redis-keys.js';
import { ReleaseStore } from '../../../entrance/src/updates/release-store.js';
import { Rollouts } from '../../../entrance/src/updates/rollouts.js';
import { UPDATE_STEPS } from '../../src/update/updater.js';
import { parseUpdateState, slotBinary } from '../../src/update/state.js';
import { eventually, killNginxMastersOf, nginxMastersOf, testAgentEnv } from '../../../test/helpers/agent.js';
import { track } from '../../../test/helpers/children.js';
import { startEntrance } from '../../../test/helpers/entrance.js';
import { startRedis } from '../../../test/helpers/redis.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const LAUNCHER = path.join(ROOT, 'firmware-image', 'dandelion-agent-run');
const releaseKey = generateKeyPairSync('ed25519').privateKey;

/**
 * The compiled agent as version `version`, trusting only this test's release key: build/'s bin, shared and
 * agent (what `dandelion agent` loads) copied under `dir`, with their own build-info.json and key file.
 * Returns the script that starts it.
 */
function agentTree(dir: string, version: string): string {
  const tree = path.join(dir, `agent-${version}`);
  for (const part of ['bin', 'shared', 'agent']) {
    cpSync(path.join(ROOT, 'build', part), path.join(tree, 'build', part), { recursive: true, filter: (src) => path.basename(src) !== 'test' });
  }
  writeFileSync(path.join(tree, 'build', 'build-info.json'), JSON.stringify({ version, commit: 'test' }));
  copyFileSync(path.join(ROOT, 'package.json'), path.join(tree, 'package.json')); // "type": "module"
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(tree, 'node_modules'));
  mkdirSync(path.join(tree, 'release'));
  writeFileSync(path.join(tree, 'release', 'release-keys.txt'), `${publicKeyText(releaseKey)}\n`);
  mkdirSync(path.join(tree, 'bin'));
  copyFileSync(path.join(ROOT, 'bin', 'dandelion'), path.join(tree, 'bin', 'dandelion'));
  chmodSync(path.join(tree, 'bin', 'dandelion'), 0o755);
  return path.join(tree, 'bin', 'dandelion');
}

/**
 * What release `version` carries: a script that execs that version's agent. The exec comes first, so the
 * shell never reads the padding, which makes the download several chunks long (a kill can cut it).
 */
function releaseBody(version: string, start: string): Buffer {
  const pad = `# ${'.'.repeat(1000)}\n`.repeat(1000);
  return Buffer.from(`#!/bin/sh\n# Dandelion agent ${version}, a test release\nexec '${start}' "$@"\n${pad}`);
}

t.test('kill -9 at each step of an update leaves a working agent, and the update completes', async (t) => {
  const dir = t.testdir();
  const factory = path.join(dir, 'factory', 'dandelion');
  mkdirSync(path.dirname(factory));
  writeFileSync(factory, releaseBody('1.0.0', agentTree(dir, '1.0.0')), { mode: 0o755 });
  const v2 = releaseBody('2.0.0', agentTree(dir, '2.0.0'));
  const bodies = new Map([['2.0.0', v2]]);

  const redis = await startRedis(t);
  const trusted = new Map([[releaseKeyIdOf(publicKeyText(releaseKey)), createPublicKey(releaseKey)]]);
  const { url: entranceUrl } = await startEntrance(t, { redisUrl: redis.url, releaseKeys: trusted });
  const line = signRelease({
    PRODUCT: 'dandelion-agent', VERSION: '2.0.0', ARCH: 'x64', SIZE: v2.length, SHA256: createHash('sha256').update(v2).digest('hex'),
    MIN_FROM_VERSION: '0.0.0', ALLOW_DOWNGRADE: false, CREATED: Math.floor(Date.now() / 1000), KEY_ID: releaseKeyIdOf(publicKeyText(releaseKey)),
  }, releaseKey);
  await new ReleaseStore(redis.client(), () => trusted).upload(line, [v2]);
  // Every box of the test is offered 2.0.0; boxes of finished steps fall silent, which a 600 s heartbeat
  // period keeps from halting the rollout.
  await new Rollouts({ redis: redis.client(), activeSeconds: 600, releaseUrl: () => '' })
    .start({ version: '2.0.0', percent: 100, stages: [100], stageSeconds: 1, heartbeatSeconds: 600 });
  const reported = async (boxId: string): Promise<{ VERSION?: string; SEEN?: number }> => JSON.parse((await redis.client().hget(releaseKeys().boxVersions, boxId)) ?? '{}');

  for (const step of UPDATE_STEPS) {
    t.test(step, async (t) => {
      const started = Date.now();
      const box = path.join(dir, step.replace(/\W/g, '-'));
      const slots = path.join(box, 'update');
      const runDirectory = path.join(box, 'run');
      const boxId = `box-${step.replace(/\W/g, '')}`.slice(0, 40);
      const env = {
        PATH: process.env.PATH ?? '/usr/bin:/bin', WATCHDOG_USEC: '3000000',
        ...testAgentEnv({ redisUrl: redis.url, entranceUrls: [entranceUrl], boxId, baseDirectory: path.join(box, 'files'), runDirectory, env: { DANDELION_HTTPS: 'off', DANDELION_UPDATE_DIRECTORY: slots, DANDELION_UPDATE_CONFIRM_S: '120', DANDELION_LOG_LEVEL: 'warn' } }),
      };

      /** What is wrong on disk: a state the launcher could not read, or one naming a slot that does not hold its version's release. */
      const problems = (): string[] => {
        const file = path.join(slots, 'state');
        if (!existsSync(file)) return [];
        const s = parseUpdateState(readFileSync(file, 'utf8'));
        if ('unreadable' in s) return [s.unreadable];
        const out: string[] = [];
        for (const [slot, version] of [[s.current, s.current_version], [s.trial, s.trial_version], [s.previous, s.previous_version]] as const) {
          if (slot !== 'a' && slot !== 'b') continue;
          const binary = slotBinary(slots, slot);
          const bytes = existsSync(binary) ? readFileSync(binary) : undefined;
          if (bytes === undefined || !bodies.get(version)?.equals(bytes)) out.push(`the state names slot ${slot} for ${version}, which holds ${bytes === undefined ? 'nothing' : `${bytes.length} other bytes`}`);
          else if ((statSync(binary).mode & 0o111) === 0) out.push(`slot ${slot} is not executable`);
        }
        return out;
      };
      // Every 20 ms while the box runs, not only at the assertions: a state that is wrong for a moment counts.
      const seen = new Set<string>();
      const watch = setInterval(() => problems().forEach((p) => seen.add(p)), 20);
      t.teardown(() => clearInterval(watch));

      // systemd's part: the launcher, started again 100 ms after each end. The failpoint is set until it has
      // killed the agent (the confirmation's steps are the trial's, the second start), then never again.
      const exits: string[] = [];
      let child: ChildProcess | undefined;
      let stopped = false;
      let log = '';
      const launch = (): void => {
        const p = spawn(LAUNCHER, ['--slots', slots, factory, 'agent'], { env: exits.includes('SIGKILL') ? env : { ...env, DANDELION_FAILPOINTS: step }, stdio: ['ignore', 'pipe', 'pipe'] });
        track(p);
        child = p;
        p.stdout?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
        p.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
        p.on('exit', (code, signal) => {
          exits.push(signal ?? String(code));
          if (!stopped) setTimeout(launch, 100);
        });
      };
      t.teardown(async () => {
        stopped = true;
        child?.kill('SIGTERM');
        await eventually(() => child?.exitCode !== null || child.signalCode !== null, 10_000);
        killNginxMastersOf(runDirectory);
      });
      const on = async (what: string, check: () => boolean | Promise<boolean>): Promise<void> => {
        const ok = await eventually(check, 60_000, 50);
        t.ok(ok, ok ? what : `${what}\n${log}`);
      };

      launch();
      await on(`the agent kills itself at ${step}`, () => exits.includes('SIGKILL'));
      const killedAt = Date.now();
      t.same(exits.filter((e) => e !== '75'), ['SIGKILL'], 'by SIGKILL, and ended no other way before (75: it exited to start a trial)');
      t.same(problems(), [], 'right after the kill the state names only slots that hold their release');
      await on('a working agent registers with the entrance after the kill', async () => ((await reported(boxId)).SEEN ?? 0) > killedAt);
      await on('the update completes: 2.0.0 confirmed in a slot and reported to the entrance', async () => {
        const s = existsSync(path.join(slots, 'state')) ? parseUpdateState(readFileSync(path.join(slots, 'state'), 'utf8')) : undefined;
        return s !== undefined && !('unreadable' in s) && s.current !== 'factory' && s.current_version === '2.0.0' && s.trial === '' && (await reported(boxId)).VERSION === '2.0.0';
      });
      t.match(readFileSync(path.join(slots, 'state'), 'utf8'), /\nfailed_version=\n/, 'nothing was rolled back');
      t.same(problems(), [], 'the state names only slots that hold their release');
      t.same([...seen], [], 'and did at every look in between');
      // Within a while, not at once: the confirmed agent may be between a state write's temp file and its rename.
      await on('no temp file or download left behind', () => readdirSync(slots).filter((name) => name.endsWith('.tmp') || name === 'download.part').length === 0);
      t.equal(exits.filter((e) => e === 'SIGKILL').length, 1, `one kill (the launcher's exits: ${exits.join(', ')})`);
      await on('one nginx master runs for the box: the agent stopped the one its killed run left', () => nginxMastersOf(runDirectory).length === 1);
      t.comment(`${step}: ${Date.now() - started} ms`);
    });
  }
});
