// The standalone arm64 binary (dist/dandelion-agent-linux-arm64, built by `make binaries`, which
// `make test` runs first) works on an arm64 box, proven under qemu-user emulation: it prints the baked-in
// version and runs with the baked-in heap cap; as an unprivileged user, from a folder it cannot write,
// it registers with a real entrance on this host, reports the readings emulation can give, answers a
// PUBLISH and a file frame with the file's size and SHA-256, and the nginx it starts serves that file;
// SIGTERM stops it and its nginx with exit 0, and it wrote nothing outside its configured folders.
//
// qemu is called explicitly (`qemu-aarch64-static -L /usr/aarch64-linux-gnu BINARY`), never through
// binfmt. The nginx the agent spawns is the host's x86 /usr/sbin/nginx: qemu-user hands an emulated
// execve of a host binary to the kernel, which runs it natively.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { NUMERIC_READINGS, encodeFrame } from '../../shared/src/protocol/index.js';
import { eventually } from '../helpers/agent.js';
import { atDeath, isAlive as alive, track } from '../helpers/children.js';
import { startEntrance } from '../helpers/entrance.js';
import { ORIGINAL_PUBLISHERS } from '../helpers/messages.js';
import { startRedis } from '../helpers/redis.js';
import { NOBODY } from '../helpers/unprivileged.js';
import { connectPeer } from '../helpers/ws-client.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const BINARY = path.join(ROOT, 'dist', 'dandelion-agent-linux-arm64');
const QEMU = 'qemu-aarch64-static';
const SYSROOT = '/usr/aarch64-linux-gnu';
/** The heap cap scripts/binaries/build.mjs bakes in (MiB). */
const HEAP_MB = 256;
/** The cap of each young-generation semi-space it bakes in (MiB). */
const SEMI_SPACE_MB = 1;
const PUBLISH = { ID: 'publisher-arm64', IP: '127.0.0.1', TYPE: 'PUBLISHER', COMMAND: 'PUBLISH' };

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };

function emulated(args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(QEMU, ['-L', SYSROOT, BINARY, ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout?.toString() ?? '', stderr: r.stderr?.toString() ?? r.error?.message ?? '' };
}

/** Files under `dirs` owned by `uid` and changed after `marker` was, outside `allowed`. */
function writtenBy(uid: number, dirs: string[], allowed: string[], marker: string): string[] {
  const r = spawnSync('find', [...dirs, '-xdev', '-user', String(uid), '-newer', marker], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((f) => f && !allowed.some((a) => f === a || f.startsWith(a + path.sep)));
}

t.test('the arm64 binary under qemu: version, heap cap, a real entrance, a file served by nginx', async (t) => {
  if (!existsSync(BINARY)) {
    t.fail(`${path.relative(ROOT, BINARY)} is missing: build it with 'make binaries' ('make test' builds it first)`);
    return;
  }
  if (spawnSync(QEMU, ['--version']).error || !existsSync(path.join(SYSROOT, 'lib'))) {
    t.fail(`${QEMU} or ${SYSROOT} is missing: install qemu-user-static and libc6-arm64-cross with 'make deps'`);
    return;
  }
  const sums = readFileSync(path.join(ROOT, 'dist', 'SHA256SUMS'), 'utf8');
  t.match(sums, `${sha(readFileSync(BINARY))}  dandelion-agent-linux-arm64`, 'dist/SHA256SUMS lists the binary as it is');

  const version = emulated(['--version']);
  t.equal(version.code, 0, `--version exits 0 ${version.stderr}`);
  t.match(version.stdout, new RegExp(`^dandelion ${pkg.version.replace(/\./g, '\\.')} \\(([0-9a-f]{12}(-dirty)?|unknown)\\)\\n$`), 'prints the baked-in version and commit');
  const help = emulated(['--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /\n\s+agent\s+run a box agent/, '--help lists the agent');
  const agentHelp = emulated(['agent', '--help']);
  t.equal(agentHelp.code, 0);
  t.match(agentHelp.stdout, /^Usage: dandelion agent/, 'agent --help');

  const info = JSON.parse(emulated([], { DANDELION_BINARY_INFO: '1' }).stdout) as { arch: string; node: string; execArgv: string[]; heapLimitMb: number };
  t.equal(info.arch, 'arm64', 'an arm64 Node inside');
  t.same(info.execArgv, [`--max-old-space-size=${HEAP_MB}`, `--max-semi-space-size=${SEMI_SPACE_MB}`], 'the heap cap and the young generation\'s cap are baked in as SEA execArgv');
  t.ok(info.heapLimitMb < 2 * HEAP_MB, `V8's heap limit follows the cap (${info.heapLimitMb} MiB; without it V8 sizes it from this machine's RAM)`);

  // A real Redis and a real entrance on this host; the box's Redis socket opened to the unprivileged agent.
  const redis = await startRedis(t);
  chmodSync(path.dirname(redis.socket), 0o711);
  chmodSync(redis.socket, 0o777);
  // Its publishers send PUBLISH without a grant, as the original's do (grants: agent/test/trust/).
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: ORIGINAL_PUBLISHERS });

  // Root-owned folders the agent can read but not write (config, working directory, the binary's own
  // folder), and its two configured folders, owned by it as systemd's StateDirectory= would make them.
  // The agent runs a copy of the binary in there: the checkout's dist/ may sit in a private folder
  // (mode 700, such as root's home) that nobody cannot enter.
  const root = mkdtempSync(path.join(os.tmpdir(), 'dandelion-arm64-'));
  chmodSync(root, 0o755);
  const binary = path.join(root, 'bin', path.basename(BINARY));
  mkdirSync(path.dirname(binary));
  chmodSync(path.dirname(binary), 0o755);
  copyFileSync(BINARY, binary);
  chmodSync(binary, 0o755);
  t.equal(sha(readFileSync(binary)), sha(readFileSync(BINARY)), 'the agent runs a copy of the binary SHA256SUMS lists');
  const cwd = path.join(root, 'cwd');
  const files = path.join(root, 'var', 'files');
  const run = path.join(root, 'var', 'run');
  for (const d of [cwd, files, run]) mkdirSync(d, { recursive: true });
  for (const d of [path.join(root, 'var'), files, run]) chownSync(d, NOBODY, NOBODY);
  const boxId = `box-arm64${randomBytes(4).toString('hex')}`;
  const config = path.join(root, 'agent.yaml');
  writeFileSync(config, [
    `ID: ${boxId}`, `REDIS_URL: ${redis.url}`, `ENTRANCE_URLS: ["${entrance.url}"]`, 'BOX_SERVER_IP: 127.0.0.1', 'BOX_PORT: 0', 'BOX_HTTP_PORT: 0',
    'METRICS_PORT: 0', `BASE_DIRECTORY: ${files}`, `RUN_DIRECTORY: ${run}`, 'NGINX: managed', 'NGINX_BINARY: /usr/sbin/nginx',
    'BANDWIDTH_TEST_CRON: ""', 'BANDWIDTH_UP: 50', 'BANDWIDTH_DOWN: 200', 'DISK_RESERVE_MB: 1', 'BOX_PING_ENTRANCE_FREQ: 1', '',
  ].join('\n'));
  t.equal(statSync(path.dirname(binary)).uid, 0, 'its folder belongs to root: the agent cannot write beside its binary');

  const marker = path.join(root, 'started');
  writeFileSync(marker, '');
  const p = spawn(QEMU, ['-L', SYSROOT, binary, 'agent', '--config', config], {
    cwd, uid: NOBODY, gid: NOBODY, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/nonexistent' },
  });
  track(p);
  const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
  const killNginx = (): void => {
    try {
      process.kill(Number(readFileSync(path.join(run, 'nginx.pid'), 'utf8')), 'SIGKILL');
    } catch {
      /* intentional: no nginx left, or never started */
    }
  };
  // If this test process dies first, the agent's nginx (its own process group) must not outlive it.
  const undo = atDeath(killNginx);
  t.teardown(async () => {
    // After a failure midway: stop the agent as systemd would, then make sure of it; then its folders.
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGTERM');
      const timer = setTimeout(() => p.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      killNginx();
    }
    undo();
    rmSync(root, { recursive: true, force: true });
  });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (out += d.toString()));

  const started = await eventually(() => out.split('\n').map((l) => (l.includes('"box agent started"') ? (JSON.parse(l) as { connectWs: string; http: string }) : undefined)).find(Boolean), 60_000, 100);
  t.ok(started, 'the emulated agent started');
  if (!started) {
    t.comment(out);
    return;
  }

  const r = redis.client();
  t.ok(await eventually(() => r.zscore(`${entrance.id}:BOX_SET`, boxId), 30_000), 'registered with the entrance');
  // CPU shares need two samples: wait for the second heartbeat.
  const hash = await eventually(async () => {
    const h = await r.hgetall(`${entrance.id}:EXCHANGE:${boxId}`);
    return h['CPU-USR'] !== undefined ? h : undefined;
  }, 30_000);
  t.ok(hash, 'the entrance stored its exchange');
  if (hash) {
    t.equal(hash.VERSION, pkg.version, 'reports the baked-in version');
    t.equal(hash.CONNECT_WS, started.connectWs);
    for (const k of ['CPU-NUM', 'CPU-USR', 'CPU-IDLE', 'LOADAVG-1', 'MEM-TOTAL', 'MEM-AVAIL', 'DISK-TOTAL', 'DISK-AVAIL', 'UPTIME', 'FILES-HELD', 'BANDWIDTH-UP']) {
      t.ok(hash[k] !== undefined, `${k} reported under emulation`);
    }
    const present = NUMERIC_READINGS.filter((k) => hash[k] !== undefined);
    for (const k of present) t.ok(Number.isFinite(Number(hash[k])) && Number(hash[k]) >= 0, `${k} is a number (${hash[k]})`);
    const missing = NUMERIC_READINGS.filter((k) => hash[k] === undefined);
    t.comment(`readings emulation cannot give, left out: ${missing.join(', ') || 'none'}`);
  }

  const publisher = await connectPeer(started.connectWs);
  t.teardown(() => publisher.close());
  const hello = await publisher.ask(PUBLISH);
  t.equal(hello.MESSAGE, 'ACCEPTED', 'PUBLISH accepted');
  const content = randomBytes(256 * 1024);
  publisher.sendRaw(encodeFrame({ FILE_PATH: '/live/seg-1.ts', TTL: 60 }, content), true);
  const ack = await publisher.next();
  t.same({ COMMAND: ack.COMMAND, MESSAGE: ack.MESSAGE, SIZE: ack.SIZE, SHA256: ack.SHA256 }, { COMMAND: 'FILE', MESSAGE: 'ACCEPTED', SIZE: content.length, SHA256: sha(content) }, 'the reply confirms size and SHA-256');
  const res = await fetch(`${started.http}publisher-arm64/live/seg-1.ts`);
  t.equal(res.status, 200, 'nginx serves the file');
  t.equal(sha(Buffer.from(await res.arrayBuffer())), sha(content), 'the same bytes');
  t.equal(statSync(path.join(files, 'publisher-arm64', 'live', 'seg-1.ts')).uid, NOBODY, 'stored by the unprivileged agent under BASE_DIRECTORY');
  await publisher.close();

  const nginxPid = Number(readFileSync(path.join(run, 'nginx.pid'), 'utf8'));
  // Stop between two heartbeats. An EXCHANGE still being built when the agent stops can meet main's
  // redis.quit() and turn a clean stop into exit 1 (a race in the agent, slow enough to hit under
  // emulation; EntranceLink.stop() does not wait for a beat in flight). Right after an EXCHANGE has
  // landed and its reply was handled, the next one is ≥ 0.9 × BOX_PING_ENTRANCE_FREQ away.
  const lastBeat = await r.zscore(`${entrance.id}:BOX_SET`, boxId);
  await eventually(async () => (await r.zscore(`${entrance.id}:BOX_SET`, boxId)) !== lastBeat, 10_000, 10);
  await new Promise((resolve) => setTimeout(resolve, 200));
  p.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM: exit 0');
  t.ok(await eventually(() => !alive(nginxPid), 5_000), 'its nginx stopped too');
  t.match(out, /"msg":"stopped"/);

  // An unprivileged process can write only to its own folders and the world-writable ones: look there
  // (past the configured folders of this test, and of any other run of it going on at the same time).
  const ownFolders = readdirSync(os.tmpdir()).filter((d) => d.startsWith('dandelion-arm64-')).map((d) => path.join(os.tmpdir(), d, 'var'));
  const stray = writtenBy(NOBODY, ['/tmp', '/var/tmp', '/dev/shm'], ownFolders, marker);
  t.same(stray, [], 'wrote nothing outside BASE_DIRECTORY and RUN_DIRECTORY');
  t.ok(ownFolders.includes(path.join(root, 'var')), 'the check saw this run\'s folders');
});

// The other two binaries of `make binaries` start and report the same version: x64 natively, armv7
// under qemu-arm (its Node, 20.11, is the newest armv7 Node on npm; its agent is exercised by hand, see
// docs/binaries.md).
t.test('the x64 and armv7 binaries print the version', async (t) => {
  const runs: Array<[string, string[]]> = [
    ['dandelion-agent-linux-x64', []],
    ['dandelion-agent-linux-armv7', ['qemu-arm-static', '-L', '/usr/arm-linux-gnueabihf']],
  ];
  for (const [name, prefix] of runs) {
    const file = path.join(ROOT, 'dist', name);
    if (!existsSync(file)) {
      t.fail(`dist/${name} is missing: build it with 'make binaries'`);
      continue;
    }
    const [cmd = file, ...args] = [...prefix, file, '--version'];
    const r = spawnSync(cmd, args, { timeout: 60_000, encoding: 'utf8' });
    t.equal(r.status, 0, `${name} --version exits 0 ${r.stderr ?? r.error?.message ?? ''}`);
    t.match(r.stdout, new RegExp(`^dandelion ${pkg.version.replace(/\./g, '\\.')} \\(`), `${name} prints the version`);
  }
});
