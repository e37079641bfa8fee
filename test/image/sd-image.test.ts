// The Raspberry Pi SD image (dist/dandelion-rpi-arm64.img, `make image`) boots into a working box:
// under qemu-system-aarch64 (virt machine, Cortex-A72, 1 GiB, 2 cores, software emulation), with only
// dandelion.yaml written into its boot partition, it registers with an entrance on this host within
// 3 minutes of power-on, takes a file from a publisher and serves it through its nginx; after a clean
// power-off it comes back with the same box ID; after 10 power cuts (SIGKILL of qemu at random moments,
// in pairs: during a file's ingest, then during the next boot) every boot comes back registered, with the
// same ID, serving the first file, its config and credentials intact. Slow (about 12 minutes):
// `make image-test`, not part of `make test`.
//
// Network rule: this test connects to 127.0.0.0/8 only (./loopback-only.js guards this process and the
// publisher's). The guest's network is restricted (nothing it sends leaves this machine); it reaches the
// entrance at GUEST_HOST_ADDRESS, carried to 127.0.0.1 by socat. The entrance's ENTRANCE_URL names that
// address, which is why host-side clients are given 127.0.0.1 URLs explicitly.
import './loopback-only.js';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { freePort } from '../../shared/src/listen.js';
import { hashPassword } from '../../shared/src/password.js';
import { eventually } from '../helpers/agent.js';
import { startEntrance } from '../helpers/entrance.js';
import { publisherToken } from '../helpers/publisher-account.js';
import { ORIGINAL_PUBLISHERS, searchRequest } from '../helpers/messages.js';
import { startRedis } from '../helpers/redis.js';
import { connectPeer } from '../helpers/ws-client.js';
import { publisherPush } from './publisher-push.js';
import { GUEST_HOST_ADDRESS, QemuBox, missingForImageTest } from './qemu-box.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const IMAGE = process.env.DANDELION_IMAGE ?? path.join(ROOT, 'dist', 'dandelion-rpi-arm64.img');
/** Serial logs and the card stay here after the test, for reading. */
const WORK = path.join(ROOT, 'build', 'image-test');
/** Enrolment (REQUIRE_ENROLMENT, a fleet token in ENROLMENT_TOKEN); false: boxes register without credentials. */
const ENROL = true;
const REGISTER_LIMIT_MS = 180_000;
/** The box sends EXCHANGE every 2 s (BOX_PING_ENTRANCE_FREQ below); the entrance drops it after this silence. */
const EXPIRE_BOX_S = 12;
const POWER_CUTS = Number(process.env.DANDELION_POWER_CUTS ?? 10);
const CARD_BYTES = 4 * 1024 ** 3;
const PUBLISHER_ID = 'publisher-image';
const API_TOKEN = randomBytes(16).toString('hex');

const sha = (b: Buffer | Uint8Array): string => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));


t.test('the SD image under qemu: registers, serves, survives reboots and power cuts', { timeout: 2_400_000 }, async (t) => {
  const missing = missingForImageTest(IMAGE, ROOT);
  if (missing !== undefined) {
    t.fail(missing);
    return;
  }
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });

  // The entrance, on a port chosen first so ENTRANCE_URL can name it as the guest sees it.
  const redis = await startRedis(t);
  const entrancePort = await freePort();
  const entrance = await startEntrance(t, {
    redisUrl: redis.url,
    env: {
      DANDELION_ENTRANCE_PORT: String(entrancePort),
      DANDELION_ENTRANCE_URL: `ws://${GUEST_HOST_ADDRESS}:${entrancePort}/dandelion/ws/`,
      DANDELION_API_TOKENS: JSON.stringify([await hashPassword(API_TOKEN)]),
      DANDELION_ENTRANCE_EXPIRE_BOX_TIME: String(EXPIRE_BOX_S),
      DANDELION_REQUIRE_ENROLMENT: String(ENROL),
      // The watcher below SEARCHes as an original client (no account); the publisher that pushes has one.
      ...ORIGINAL_PUBLISHERS,
    },
  });
  const hostEntranceUrl = `ws://127.0.0.1:${entrancePort}/dandelion/ws/`;
  const apiBase = `http://127.0.0.1:${entrancePort}`;
  t.equal(entrance.url.replace(/^ws:\/\/[^/]+/, ''), '/dandelion/ws/', 'the entrance\'s WebSocket path');
  let token = '';
  if (ENROL) {
    // One use: a box that lost its key in a power cut and had to enrol again would fail here.
    const r = spawnSync(path.join(ROOT, 'bin', 'dandelion'), ['entrance', 'token', 'create', '--expires', '1d', '--uses', '1', '--json'], { encoding: 'utf8', env: { ...process.env, DANDELION_REDIS_URL: redis.url, DANDELION_RUN_DIRECTORY: entrance.runDirectory } });
    token = String((JSON.parse(r.stdout || '{}') as { TOKEN?: string }).TOKEN ?? r.stderr);
    t.match(token, /^dlt_/, 'a fleet token');
  }

  // The box's ports: the same number on the host (forwarded) and in the guest, so what it advertises works here.
  const boxPort = await freePort();
  const httpPort = await freePort();
  const sshPort = await freePort();
  const box = new QemuBox({ image: IMAGE, dir: WORK, diskBytes: CARD_BYTES, ports: [boxPort, httpPort, [sshPort, 22]], hostPorts: [entrancePort] });
  box.prepare();
  // An SSH key for this run: the box must start sshd with it, and the clean power-off goes through it.
  const sshKey = path.join(WORK, 'id_ed25519');
  t.equal(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'image-test', '-f', sshKey]).status, 0, 'an SSH key for the test');
  const sshPublic = readFileSync(`${sshKey}.pub`, 'utf8').trim();
  // dandelion.yaml as an operator writes it: `dandelion provision sdcard` on the card image, nothing else.
  writeFileSync(path.join(WORK, 'id_ed25519.pub.line'), `${sshPublic}\n`);
  const provision = spawnSync(path.join(ROOT, 'bin', 'dandelion'), [
    'provision', 'sdcard', box.disk,
    '--entrance', `ws://${GUEST_HOST_ADDRESS}:${entrancePort}/dandelion/ws/`,
    '--ssh-key', path.join(WORK, 'id_ed25519.pub.line'),
    '--geoip-loc', '38.72,-9.14',
    '--set', `BOX_PORT=${boxPort}`, '--set', `BOX_HTTP_PORT=${httpPort}`, '--set', 'BOX_CLIENT_IP=127.0.0.1',
    '--set', 'BOX_PING_ENTRANCE_FREQ=2', "--set", "BANDWIDTH_TEST_CRON=''", '--set', 'BANDWIDTH_UP=100', '--set', 'BANDWIDTH_DOWN=500',
  ], { encoding: 'utf8', env: { ...process.env, DANDELION_ENROLMENT_TOKEN: ENROL ? token : '' } });
  t.equal(provision.status, 0, `provision sdcard: ${provision.stderr}`);
  const config = box.readBootFile('dandelion.yaml');
  t.match(config, new RegExp(`BOX_PORT: ${boxPort}`), 'dandelion.yaml written into the boot partition by provision sdcard');

  // SEARCH as a publisher would, on one socket (opened again if the entrance closed it).
  let search = await connectPeer(hostEntranceUrl);
  t.teardown(() => search.close());
  const boxesNow = async (): Promise<string[]> => {
    if (search.ws.readyState !== search.ws.OPEN) search = await connectPeer(hostEntranceUrl);
    const reply = await Promise.race([search.ask(searchRequest('publisher-image-watch')), sleep(10_000).then(() => undefined)]);
    if (!reply) search.ws.terminate();
    return Object.keys((reply?.BOX_SET ?? {}) as Record<string, unknown>);
  };
  /** Power on and wait until the entrance's SEARCH lists a box; resolves with its ID and the time it took. */
  const bootToRegistered = async (label: string): Promise<{ id: string; ms: number }> => {
    const b = box.boot();
    // A registration from before this power-on must not count: wait until the entrance dropped it
    // (ENTRANCE_EXPIRE_BOX_TIME after its last EXCHANGE), which happens long before the new boot's
    // agent can start (40 s or more under emulation), so the wait overlaps the boot.
    t.ok(await eventually(async () => (await boxesNow()).length === 0, 60_000, 1_000), `${label}: the previous boot's registration expired`);
    const id = await eventually(async () => (await boxesNow())[0], REGISTER_LIMIT_MS, 2_000);
    const ms = Date.now() - b.startedAt;
    t.ok(id, `${label}: registered in ${(ms / 1000).toFixed(1)} s (serial log ${path.relative(ROOT, b.log)})`);
    return { id: id ?? '', ms };
  };
  const fetchFile = async (name: string): Promise<Buffer | undefined> => {
    const res = await fetch(`http://127.0.0.1:${httpPort}/${PUBLISHER_ID}/${name}`).catch(() => undefined);
    return res?.ok ? Buffer.from(await res.arrayBuffer()) : undefined;
  };
  const publisherDir = path.join(WORK, 'publisher');
  mkdirSync(publisherDir, { recursive: true });
  // The entrance answers only publishers with an account, as an operator would make one.
  const publisherEnrolmentToken = await publisherToken(PUBLISHER_ID, [entrance.url], redis.url);
  const push = (file: string) => publisherPush({ publisherId: PUBLISHER_ID, enrolmentToken: publisherEnrolmentToken, redisUrl: redis.url, entranceUrl: hostEntranceUrl, dir: publisherDir }, file);

  // 1. First boot: registered within 3 minutes; in SEARCH and in the dashboard's API.
  const first = await bootToRegistered('first boot');
  const boxId = first.id;
  t.ok(first.ms < REGISTER_LIMIT_MS, `first boot to registered: ${(first.ms / 1000).toFixed(1)} s (limit ${REGISTER_LIMIT_MS / 1000} s)`);
  t.match(boxId, /^box-/, `the box's ID: ${boxId}`);
  const api = await fetch(`${apiBase}/api/boxes?q=${encodeURIComponent(boxId)}`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
  t.equal(api.status, 200, 'the dashboard API answers');
  t.match(await api.text(), boxId, 'the dashboard API lists the box');

  // 2. A file pushed from this host, served back through the guest's nginx on the forwarded port.
  const content = randomBytes(1_000_000);
  const file = path.join(publisherDir, 'hello.bin');
  writeFileSync(file, content);
  const pushed = await push(file).done;
  t.equal(pushed.code, 0, `publisher push exits 0: ${pushed.out.trim()}`);
  const served = await eventually(() => fetchFile('hello.bin'), 30_000, 1_000);
  t.equal(served ? sha(served) : 'nothing', sha(content), 'the box serves the pushed file through its nginx');

  // SSH: provisioned with a key, so sshd runs, with host keys made on the box; through it, a clean
  // power-off (the virt machine's power button as the fallback).
  const ssh = (command: string) => spawnSync('ssh', ['-i', sshKey, '-p', String(sshPort), '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=20', '-o', 'LogLevel=ERROR', 'root@127.0.0.1', command], { encoding: 'utf8', timeout: 60_000 });
  const who = ssh('id -un; findmnt -n -o OPTIONS /; cat /etc/machine-id; df -m --output=size /var/lib/dandelion | tail -n 1');
  t.equal(who.status, 0, `SSH login as root with the provisioned key ${who.stderr}`);
  const [user, rootOptions, machineId, dataMb] = who.stdout.trim().split('\n');
  t.equal(user, 'root', 'logged in as root');
  t.match(rootOptions ?? '', /^ro,/, `the root filesystem is mounted read-only (${rootOptions})`);
  t.match(machineId ?? '', /^[0-9a-f]{32}$/, 'a machine-id made on first boot');
  t.ok(Number(dataMb) > 1024, `the data partition grew to the card's end (${dataMb} MiB)`);
  const failed = ssh('systemctl --failed --no-legend --plain').stdout.trim();
  t.equal(failed, '', 'no failed systemd units on the read-only root');
  t.comment(ssh('journalctl -b -u dandelion-boot -u dandelion-grow-data -u dandelion-machine-id --no-pager -o cat').stdout);
  ssh('systemctl poweroff');
  const poweredOff = await Promise.race([(box.current as NonNullable<typeof box.current>).exited.then(() => true), sleep(120_000).then(() => false)]);
  t.ok(poweredOff || (await box.powerOff()), 'the guest powers off cleanly');

  const again = await bootToRegistered('after a clean power-off');
  t.equal(again.id, boxId, 'the same box ID after a clean reboot');
  const kept = await eventually(() => fetchFile('hello.bin'), 30_000, 1_000);
  t.equal(kept ? sha(kept) : 'nothing', sha(content), 'the file is still served');

  // 4. Power cuts, in pairs: one while a 20 MB file streams in (the box is up), then one at a random
  // moment of the next boot; the boot after each pair must come back registered with the same ID (its
  // key and stored ID intact) and serving the first file. A boot that is cut cannot itself be checked.
  const boots: number[] = [first.ms, again.ms];
  const big = path.join(publisherDir, 'big.bin');
  writeFileSync(big, randomBytes(20_000_000));
  for (let cut = 1; cut <= POWER_CUTS; cut++) {
    const cycleStart = Date.now();
    if (cut % 2 === 1) {
      const p = push(big);
      const afterMs = 500 + Math.floor(Math.random() * 4_000);
      await sleep(afterMs);
      await box.cut();
      p.proc.kill('SIGKILL');
      await p.done;
      t.comment(`power cut ${cut}: during the ingest of big.bin, ${afterMs} ms after the push started`);
      if (cut < POWER_CUTS) continue;
    } else {
      box.boot();
      const afterMs = 2_000 + Math.floor(Math.random() * first.ms);
      await sleep(afterMs);
      await box.cut();
      t.comment(`power cut ${cut}: during boot, ${(afterMs / 1000).toFixed(1)} s after power-on`);
    }
    const back = await bootToRegistered(`after power cut ${cut}`);
    boots.push(back.ms);
    t.equal(back.id, boxId, `after power cut ${cut}: the same box ID`);
    const still = await eventually(() => fetchFile('hello.bin'), 30_000, 1_000);
    t.equal(still ? sha(still) : 'nothing', sha(content), `after power cut ${cut}: the first file is still served`);
    t.comment(`power cuts up to ${cut}: ${((Date.now() - cycleStart) / 1000).toFixed(1)} s for this cut and the boot after it`);
  }
  t.equal(box.readBootFile('dandelion.yaml'), config, 'dandelion.yaml on the boot partition is unchanged');
  t.comment(`boot to registered (s): ${boots.map((ms) => (ms / 1000).toFixed(1)).join(', ')}`);
  const id2 = ssh('cat /etc/machine-id');
  t.equal(id2.stdout.trim(), machineId, 'the same machine-id after all the power cuts');
  await box.powerOff();
});
