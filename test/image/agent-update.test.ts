// Updates over the air on the Raspberry Pi SD image (dist/dandelion-rpi-arm64.img) under
// qemu-system-aarch64, with its own launcher (dandelion-agent-run --slots) and systemd unit, against a
// real entrance on this host (real Redis) that holds the signed arm64 releases and runs the rollouts
// through its /api, behind test/helpers/entrance-proxy.ts (it counts the bytes of each download). Slow:
// `make image-test`, one qemu guest at a time, not part of `make test`.
//   1. A fresh card, provisioned as sd-image.test.ts does; first boot, registered.
//   2. Seeding v1: the image's factory binary trusts only the project's release key
//      (release/release-keys.txt, whose private half is kept offline), so this test cannot sign anything
//      it would take. Over SSH, the test installs an arm64 v1.0.0 built with the test release key
//      (test/helpers/update-binaries.ts) as the confirmed slot a (state: current=a), as if the box had
//      once been updated to a build trusting the test key, and restarts the agent: from then on every
//      update below goes through the product's own path, untouched.
//   3. v1 → v2 by a rollout to 100 %; the time from the rollout's start to the entrance seeing the box run
//      2.0.0 (its first EXCHANGE as 2.0.0 both confirms the trial on the box and counts it updated) is
//      printed as "# update under qemu: rollout start → running 2.0.0 in N s".
//   4. v2 → v3 with a power cut (SIGKILL of qemu) in the middle of the switch: 0-12 s after the box's
//      download.part holds the binary's last byte, as a watcher on the box sees it (the box then fsyncs
//      it, checks the hash, writes the slot and the state, exits 75, and the launcher starts the trial;
//      under emulation that takes about 10 s, so the cut lands in any of these steps; the comment says
//      which, from the state the box comes back with). The next boot must come back with a working agent running 2.0.0
//      or 3.0.0, whichever its state says, and end on 3.0.0 confirmed (the rollout offers again, the
//      download resumes or the trial continues: docs/updates.md "A power cut at each moment").
//   5. v4, which exits at start, rolled back by the launcher to v3 (3 starts, within UPDATE_CONFIRM_S);
//      the box reports UPDATE_FAILED 4.0.0 and the entrance's rollout counts it.
//   6. The box still serves: a file pushed from this host comes back through its nginx.
//
// Network rule: this test connects to 127.0.0.0/8 only (./loopback-only.js); the guest reaches the entrance
// (through the proxy) at GUEST_HOST_ADDRESS, carried to 127.0.0.1 by socat.
import './loopback-only.js';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { publicKeyText } from '../../shared/src/enrolment/codec.js';
import { freePort } from '../../shared/src/listen.js';
import { hashPassword } from '../../shared/src/password.js';
import { releaseKeys } from '../../shared/src/redis-keys.js';
import { releaseKeyIdOf, signRelease } from '../../shared/src/release/manifest.js';
import { ReleaseStore } from '../../entrance/src/updates/release-store.js';
import { eventually } from '../helpers/agent.js';
import { track } from '../helpers/children.js';
import { startEntrance } from '../helpers/entrance.js';
import { startEntranceProxy } from '../helpers/entrance-proxy.js';
import { publisherToken } from '../helpers/publisher-account.js';
import { startRedis } from '../helpers/redis.js';
import { testBinary, testReleaseKey } from '../helpers/update-binaries.js';
import { publisherPush } from './publisher-push.js';
import { rolloutApi } from '../helpers/rollout-api.js';
import { GUEST_HOST_ADDRESS, QemuBox, missingForImageTest } from './qemu-box.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const IMAGE = process.env.DANDELION_IMAGE ?? path.join(ROOT, 'dist', 'dandelion-rpi-arm64.img');
/** Serial logs and the card stay here after the test, for reading. */
const WORK = path.join(ROOT, 'build', 'image-update-test');
const CARD_BYTES = 4 * 1024 ** 3;
const REGISTER_LIMIT_MS = 240_000;
/**
 * A trial's deadline. Long enough for a trial cut by the power cut to survive the reboot under emulation
 * (a minute or two) and still be confirmed; the crashing v4 is rolled back by its 3 starts, long before.
 */
const CONFIRM_S = 300;
const UPDATE_LIMIT_MS = 300_000;
const API_TOKEN = randomBytes(16).toString('hex');
const PUBLISHER_ID = 'publisher-image-update';
const SLOTS = '/var/lib/dandelion/update';

const sha = (b: Buffer | Uint8Array): string => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const seconds = (ms: number): string => (ms / 1000).toFixed(1);

interface Release { version: string; body: Buffer; line: string }

/** The release requests after the first are Range resumes from an offset that never goes back. */
function resumesInOrder(requests: string[]): boolean {
  const offsets = requests.slice(1).map((r) => Number(/ bytes=(\d+)-$/.exec(r)?.[1] ?? NaN));
  return offsets.every((n, i) => Number.isInteger(n) && n > 0 && (i === 0 || n >= (offsets[i - 1] as number)));
}

function release(version: string, body: Buffer): Release {
  const key = testReleaseKey();
  const line = signRelease({
    PRODUCT: 'dandelion-agent', VERSION: version, ARCH: 'arm64', SIZE: body.length, SHA256: sha(body),
    MIN_FROM_VERSION: '0.0.0', ALLOW_DOWNGRADE: false, CREATED: Math.floor(Date.now() / 1000), KEY_ID: releaseKeyIdOf(publicKeyText(key)),
  }, key);
  return { version, body, line };
}

t.test('the SD image under qemu updates its agent over the air, survives a power cut in the switch and rolls a crashing build back', { timeout: 2_400_000 }, async (t) => {
  const started = Date.now();
  const missing = missingForImageTest(IMAGE, ROOT);
  if (missing !== undefined) {
    t.fail(missing);
    return;
  }
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  const bins = ['1.0.0', '2.0.0', '3.0.0'].map((v) => testBinary(v, 'arm64'));
  t.comment(`arm64 test binaries: ${bins.map((b) => `${b.version} ${b.built === 'cached' ? 'cached' : `built in ${seconds(b.built)} s`}`).join(', ')}`);
  const [v1, v2, v3] = bins as [typeof bins[0], typeof bins[0], typeof bins[0]];
  const releases = new Map<string, Release>([
    ['2.0.0', release('2.0.0', readFileSync(v2.file))],
    ['3.0.0', release('3.0.0', readFileSync(v3.file))],
    // A bad build: signed as any other, it exits at start.
    ['4.0.0', release('4.0.0', Buffer.from('#!/bin/sh\necho "v4 cannot start" >&2\nexit 3\n'))],
  ]);

  // The entrance behind the proxy; ENTRANCE_URL names the proxy as the guest reaches it, so the offers'
  // download URLs do too.
  const redis = await startRedis(t);
  const proxy = await startEntranceProxy(t);
  const trusted = new Map([[releaseKeyIdOf(publicKeyText(testReleaseKey())), createPublicKey(testReleaseKey())]]);
  const guestEntranceUrl = `ws://${GUEST_HOST_ADDRESS}:${proxy.port}/dandelion/ws/`;
  const entrance = await startEntrance(t, {
    redisUrl: redis.url, releaseKeys: trusted,
    env: {
      DANDELION_ENTRANCE_URL: guestEntranceUrl,
      DANDELION_API_TOKENS: JSON.stringify([await hashPassword(API_TOKEN)]),
      DANDELION_ENTRANCE_EXPIRE_BOX_TIME: '12',
      DANDELION_REQUIRE_ENROLMENT: 'true',
    },
  });
  proxy.target = (entrance.entrance.server.address() as AddressInfo).port;
  const hostEntranceUrl = `ws://127.0.0.1:${proxy.target}/dandelion/ws/`;
  const store = new ReleaseStore(redis.client(), () => trusted);
  for (const r of releases.values()) await store.upload(r.line, [r.body]);
  const { rollout, rollOut } = rolloutApi(() => proxy.target, API_TOKEN, () => entrance.entrance.tick());

  const tokenRun = spawnSync(path.join(ROOT, 'bin', 'dandelion'), ['entrance', 'token', 'create', '--expires', '1d', '--uses', '1', '--json'], { encoding: 'utf8', env: { ...process.env, DANDELION_REDIS_URL: redis.url, DANDELION_RUN_DIRECTORY: entrance.runDirectory } });
  const token = String((JSON.parse(tokenRun.stdout || '{}') as { TOKEN?: string }).TOKEN ?? tokenRun.stderr);
  t.match(token, /^dlt_/, 'a fleet token');

  const boxPort = await freePort();
  const httpPort = await freePort();
  const sshPort = await freePort();
  const box = new QemuBox({ image: IMAGE, dir: WORK, diskBytes: CARD_BYTES, ports: [boxPort, httpPort, [sshPort, 22]], hostPorts: [proxy.port] });
  box.prepare();
  const sshKey = path.join(WORK, 'id_ed25519');
  t.equal(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'image-update-test', '-f', sshKey]).status, 0, 'an SSH key for the test');
  const provision = spawnSync(path.join(ROOT, 'bin', 'dandelion'), [
    'provision', 'sdcard', box.disk, '--entrance', guestEntranceUrl, '--ssh-key', `${sshKey}.pub`, '--geoip-loc', '38.72,-9.14',
    '--set', `BOX_PORT=${boxPort}`, '--set', `BOX_HTTP_PORT=${httpPort}`, '--set', 'BOX_CLIENT_IP=127.0.0.1',
    '--set', 'BOX_PING_ENTRANCE_FREQ=2', '--set', "BANDWIDTH_TEST_CRON=''", '--set', 'BANDWIDTH_UP=100', '--set', 'BANDWIDTH_DOWN=500',
    '--set', `UPDATE_CONFIRM_S=${CONFIRM_S}`,
  ], { encoding: 'utf8', env: { ...process.env, DANDELION_ENROLMENT_TOKEN: token } });
  t.equal(provision.status, 0, `provision sdcard: ${provision.stderr}`);

  const sshArgs = ['-i', sshKey, '-p', String(sshPort), '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=20', '-o', 'LogLevel=ERROR', 'root@127.0.0.1'];
  const ssh = (command: string, input?: Buffer) => spawnSync('ssh', [...sshArgs, command], { encoding: 'utf8', timeout: 180_000, maxBuffer: 16 * 1024 * 1024, ...(input ? { input } : {}) });
  const boxState = (): string => ssh(`cat ${SLOTS}/state 2>/dev/null`).stdout ?? '';
  // The agent's 'update download interrupted' lines of this boot: why a download needed another request.
  const interruptions = (): string[] => (ssh('journalctl -b -u dandelion-agent --no-pager -o cat | grep "update download interrupted"').stdout ?? '').split('\n').filter(Boolean).map((l) => {
    try {
      return String((JSON.parse(l) as { err?: unknown }).err ?? l);
    } catch {
      return l;
    }
  });
  const journal = (): string => ssh('journalctl -b -u dandelion-agent --no-pager -o cat | grep -E "dandelion-agent-run|update|Update" | tail -n 40').stdout ?? '';
  // What the entrance heard from the box in its EXCHANGEs: AGENT_VERSION, AGENT_ARCH, AGENT_PREVIOUS_VERSION, when.
  let boxId = '';
  const reported = async (): Promise<{ VERSION?: string; ARCH?: string; PREVIOUS?: string; SEEN?: number }> => {
    if (boxId === '') return {};
    return JSON.parse((await redis.client().hget(releaseKeys().boxVersions, boxId)) ?? '{}');
  };
  /** The box's EXCHANGE, heard after `since`, reports `version`. */
  const runs = async (version: string, since: number): Promise<boolean> => {
    const r = await reported();
    return r.VERSION === version && (r.SEEN ?? 0) > since;
  };
  const on = async (what: string, check: () => boolean | Promise<boolean>, ms = UPDATE_LIMIT_MS, stepMs = 1_000): Promise<boolean> => {
    const ok = Boolean(await eventually(check, ms, stepMs));
    t.ok(ok, what);
    return ok;
  };
  const bootToReporting = async (label: string): Promise<number> => {
    const b = box.boot();
    const ok = await on(`${label}: the agent registers and reports its version (serial log ${path.relative(ROOT, b.log)})`, async () => {
      if (boxId === '') boxId = (await redis.client().hkeys(releaseKeys().boxVersions))[0] ?? '';
      return (await reported()).SEEN !== undefined && ((await reported()).SEEN ?? 0) > b.startedAt;
    }, REGISTER_LIMIT_MS, 2_000);
    return ok ? Date.now() - b.startedAt : NaN;
  };

  // 1. First boot, with the factory binary.
  const firstMs = await bootToReporting('first boot');
  t.comment(`first boot to a reporting agent: ${seconds(firstMs)} s`);
  t.match(boxId, /^box-/, `the box's ID: ${boxId}`);
  const factoryVersion = (await reported()).VERSION ?? '';
  t.match(await reported(), { ARCH: 'arm64' }, `the factory binary reports arm64 (version ${factoryVersion})`);
  const listed = await fetch(`http://127.0.0.1:${proxy.target}/api/boxes?q=${encodeURIComponent(boxId)}`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
  t.match(await listed.text(), boxId, 'the dashboard API lists the box');

  // 2. Seed v1 (trusting the test key) as the confirmed slot a: see the header for why.
  const seedAt = Date.now();
  const v1Body = readFileSync(v1.file);
  const seeded = ssh(`set -e; systemctl stop dandelion-agent; install -d -o dandelion -g dandelion -m 0755 ${SLOTS}/slot-a
    cat > ${SLOTS}/slot-a/.seed.tmp; chmod 0755 ${SLOTS}/slot-a/.seed.tmp; chown dandelion:dandelion ${SLOTS}/slot-a/.seed.tmp
    sync ${SLOTS}/slot-a/.seed.tmp; mv -f ${SLOTS}/slot-a/.seed.tmp ${SLOTS}/slot-a/dandelion; sha256sum ${SLOTS}/slot-a/dandelion
    printf 'current=a\\ncurrent_version=1.0.0\\nprevious=factory\\nprevious_version=${factoryVersion}\\n' > ${SLOTS}/.state.seed.tmp
    chown dandelion:dandelion ${SLOTS}/.state.seed.tmp; sync ${SLOTS}/.state.seed.tmp; mv -f ${SLOTS}/.state.seed.tmp ${SLOTS}/state; sync ${SLOTS}
    systemctl start --no-block dandelion-agent`, v1Body);
  t.equal(seeded.status, 0, `v1 seeded into slot a over SSH ${seeded.stderr}`);
  t.match(seeded.stdout, sha(v1Body), 'the slot holds the v1 binary');
  await on('the box runs v1 from slot a', () => runs('1.0.0', seedAt));
  t.comment(`seeding v1 took ${seconds(Date.now() - seedAt)} s`);

  // 3. v1 → v2 by a rollout; timed from its start to the box running 2.0.0.
  const v2Start = await rollOut('2.0.0');
  const v2Ok = await on('v2 offered, downloaded from the entrance, installed and running', () => runs('2.0.0', v2Start), UPDATE_LIMIT_MS);
  const v2Ms = Date.now() - v2Start;
  const v2Requests = proxy.served.filter((s) => s.includes('/2.0.0/'));
  t.equal(v2Requests[0], '/dandelion/releases/2.0.0/arm64 whole', 'downloaded from the offer\'s URL');
  t.ok(resumesInOrder(v2Requests), `any later request resumes where the last one stopped (${v2Requests.length} requests)`);
  t.comment(`v2 download: ${JSON.stringify(v2Requests)}; interruptions the agent logged: ${JSON.stringify(interruptions())}`);
  await on('the entrance counts the box updated', async () => (await rollout()).UPDATED === 1, 30_000);
  await on('once confirmed, the box reports v1 as its previous version', async () => (await reported()).PREVIOUS === '1.0.0', 60_000);
  t.match(boxState(), /^current=b\ncurrent_version=2\.0\.0\nprevious=a\nprevious_version=1\.0\.0\ntrial=\n/, 'confirmed on the box: slot b, no trial');
  if (v2Ok) t.comment(`update under qemu: rollout start → running 2.0.0 in ${seconds(v2Ms)} s`);

  // 4. v2 → v3, power cut 0-12 s after the box holds v3's last byte. A watcher on the box (over SSH; the
  //    entrance's side cannot tell: the bytes it sent sit in buffers on the way for seconds) says when
  //    download.part is complete or, if it polled too late, when the state already names the trial.
  const v3Size = (releases.get('3.0.0') as Release).body.length;
  const watcher = spawn('ssh', [...sshArgs, `while :; do s=$(stat -c %s ${SLOTS}/download.part 2>/dev/null || echo 0)
    if [ "$s" -ge ${v3Size} ]; then echo "download.part complete"; exit 0; fi
    if grep -q '^trial_version=3.0.0' ${SLOTS}/state 2>/dev/null; then echo "state names the trial already"; exit 0; fi
    sleep 0.2; done`], { stdio: ['ignore', 'pipe', 'pipe'] });
  track(watcher);
  const seen = new Promise<string>((resolve) => {
    let out = '';
    watcher.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    watcher.once('exit', () => resolve(out.trim()));
  });
  const v3Start = await rollOut('3.0.0');
  const moment = await Promise.race([seen, sleep(UPDATE_LIMIT_MS).then(() => '')]);
  const completeAt = Date.now();
  t.ok(moment !== '', `the box holds v3's last byte (${moment || 'never seen'}, ${seconds(completeAt - v3Start)} s after the rollout's start)`);
  const afterMs = Math.floor(Math.random() * 12_000);
  await sleep(afterMs);
  await box.cut();
  watcher.kill('SIGKILL');
  t.comment(`power cut ${afterMs} ms after the watcher saw: ${moment}`);
  const cutAt = Date.now();
  const backMs = await bootToReporting('after the power cut');
  const back = (await reported()).VERSION;
  t.ok(back === '2.0.0' || back === '3.0.0', `after the power cut the box runs a working agent: ${back}`);
  const afterCut = boxState();
  const readable = /^current=[ab]\ncurrent_version=[23]\.0\.0\n/.test(afterCut);
  t.ok(readable, 'its state is whole (the old one or the new one)');
  t.comment(`after the power cut (${seconds(backMs)} s to a reporting agent): state ${JSON.stringify(afterCut)}; ${back === '3.0.0' ? 'the trial of v3 went on' : 'v2 runs; the offer comes again'}; the cut landed ${/^current=a\ncurrent_version=3\.0\.0\n[\s\S]*trial=\n/.test(afterCut) ? 'after v3 was confirmed' : /trial=a\ntrial_version=3\.0\.0/.test(afterCut) ? 'after the state named the trial' : 'before the state named the trial'}`);
  await on('and it ends on v3, confirmed', async () => (await runs('3.0.0', cutAt)) && /^current=a\ncurrent_version=3\.0\.0\nprevious=b\nprevious_version=2\.0\.0\ntrial=\n/.test(boxState()), UPDATE_LIMIT_MS, 3_000);
  t.comment(`v3: power cut to running confirmed in ${seconds(Date.now() - cutAt)} s; downloads ${JSON.stringify(proxy.served.filter((s) => s.includes('/3.0.0/')))}`);
  t.notMatch(afterCut + boxState(), /failed_version=3\.0\.0/, 'v3 was never rolled back');

  // 5. v4 exits at start: 3 starts, then the launcher goes back to v3; the box reports UPDATE_FAILED 4.0.0.
  const v4Start = await rollOut('4.0.0');
  await on('v4 staged as a trial in slot b', () => /trial=b\ntrial_version=4\.0\.0/.test(boxState()) || /failed_version=4\.0\.0/.test(boxState()), UPDATE_LIMIT_MS, 2_000);
  await on('v4 rolled back to v3 by the launcher', () => /^current=a\ncurrent_version=3\.0\.0\n[\s\S]*trial=\n[\s\S]*failed_version=4\.0\.0\nfailed_reason=exited 3 times without registering/.test(boxState()), UPDATE_LIMIT_MS, 2_000);
  const v4Ms = Date.now() - v4Start;
  t.ok(v4Ms < CONFIRM_S * 1000, `rolled back within UPDATE_CONFIRM_S (${seconds(v4Ms)} s after the rollout's start)`);
  t.match(journal(), /4\.0\.0 rolled back: exited 3 times/, 'the launcher says so in the journal');
  await on('v3 runs again and the entrance records the failed v4 against its rollout', async () => {
    const r = await rollout();
    return (await runs('3.0.0', v4Start)) && r.VERSION === '4.0.0' && r.FAILED === 1 && (await redis.client().zscore(releaseKeys().failed(String(r.ID)), boxId)) !== null;
  }, 120_000, 2_000);

  // 6. Still serving: a file pushed from this host, back through the box's nginx.
  const publisherDir = path.join(WORK, 'publisher');
  mkdirSync(publisherDir, { recursive: true });
  const content = randomBytes(500_000);
  const file = path.join(publisherDir, 'after-updates.bin');
  writeFileSync(file, content);
  const enrolmentToken = await publisherToken(PUBLISHER_ID, [entrance.url], redis.url);
  const pushed = await publisherPush({ publisherId: PUBLISHER_ID, enrolmentToken, redisUrl: redis.url, entranceUrl: hostEntranceUrl, dir: publisherDir }, file).done;
  t.equal(pushed.code, 0, `publisher push exits 0: ${pushed.out.trim().slice(-500)}`);
  const served = await eventually(async () => {
    const res = await fetch(`http://127.0.0.1:${httpPort}/${PUBLISHER_ID}/after-updates.bin`).catch(() => undefined);
    return res?.ok ? Buffer.from(await res.arrayBuffer()) : undefined;
  }, 30_000, 1_000);
  t.equal(served ? sha(served) : 'nothing', sha(content), 'the box serves a pushed file through its nginx after the updates');
  t.equal(ssh('systemctl --failed --no-legend --plain').stdout.trim(), '', 'no failed systemd units');
  t.comment(`the whole test took ${seconds(Date.now() - started)} s`);
  await box.powerOff();
});
