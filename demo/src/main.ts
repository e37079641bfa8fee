/**
 * `dandelion demo`: the mission on one machine, on loopback only: Redis, an entrance, three boxes, a
 * publisher and ffmpeg streaming into the publisher's watched folder. Each role's log goes to a file
 * under run/demo/; the terminal shows only the URLs. Ctrl-C stops everything it started.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT_CODES_HELP, parseRoleArgs } from '../../shared/src/cli.js';
import { randomBytes } from 'node:crypto';
import { hashPassword } from '../../shared/src/password.js';
import { testStreamArgs } from '../../shared/src/test-stream.js';
import { Supervisor } from './supervisor.js';

const execFileP = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const BIN = path.join(ROOT, 'bin', 'dandelion');
const BOXES = 3;
const DEMO_USER = 'operator';
const DEMO_PLACES = [
  { city: 'Taipei', loc: '25.03,121.56' },
  { city: 'Taichung', loc: '24.15,120.67' },
  { city: 'Kaohsiung', loc: '22.63,120.30' },
];

export const DEMO_HELP = `Usage: dandelion demo [--dir DIR]

Runs the Dandelion network on this machine, on loopback: Redis, an entrance, three boxes (each its
own agent and nginx, folders and ports), a publisher, and ffmpeg making a live test stream (test
pattern and tone, HLS, 2 s segments) in the publisher's watched folder. Prints the viewer and
dashboard URLs, keeps each role's log in DIR (default run/demo), and stops everything on Ctrl-C.

${EXIT_CODES_HELP}
`;

export async function main(args: string[]): Promise<void> {
  const opts = parseRoleArgs(args, { dir: { type: 'string' } });
  if (opts.help) {
    process.stdout.write(DEMO_HELP);
    return;
  }
  const dir = path.resolve((opts.values.dir as string | undefined) ?? path.join(ROOT, 'run', 'demo'));
  mkdirSync(dir, { recursive: true });
  const sup = new Supervisor();
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('stopping…\n');
    await sup.stopAll();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());

  try {
    const socket = path.join(dir, 'redis.sock');
    await sup.start('redis', 'redis-server', ['--port', '0', '--unixsocket', socket, '--unixsocketperm', '700', '--save', '', '--appendonly', 'no', '--dir', dir], {
      logFile: path.join(dir, 'redis.log'),
      ready: /ready to accept connections/i,
    });
    // A fresh operator password each run: nothing secret is stored in the repository.
    const password = randomBytes(9).toString('base64url');
    const entranceConfig = path.join(dir, 'entrance.yaml');
    writeFileSync(
      entranceConfig,
      [`ENTRANCE_IP: 127.0.0.1`, `ENTRANCE_PORT: 0`, `REDIS_URL: unix://${socket}`, `RUN_DIRECTORY: ${path.join(dir, 'entrance')}`, `ENTRANCE_EXPIRE_BOX_TIME: 30`,
        `DASHBOARD_USERS: [{USERNAME: ${DEMO_USER}, PASSWORD_HASH: "${await hashPassword(password)}"}]`, ''].join('\n'),
    );
    const entrance = await sup.start('entrance', BIN, ['entrance', '--config', entranceConfig], {
      logFile: path.join(dir, 'entrance.log'),
      ready: /"url":"(ws:[^"]+)"/,
    });
    const wsUrl = entrance.match[1] as string;
    // Boxes enrol as real ones do: with a fleet token an operator made (the entrance requires enrolment).
    const { stdout: tokenJson } = await execFileP(BIN, ['entrance', 'token', 'create', '--config', entranceConfig, '--uses', String(BOXES), '--expires', '1h', '--note', 'make demo', '--json']);
    const fleetToken = (JSON.parse(tokenJson) as { TOKEN: string }).TOKEN;
    const boxLines: string[] = [];
    for (let n = 1; n <= BOXES; n++) {
      const boxDir = path.join(dir, `box-${n}`);
      const config = path.join(dir, `box-${n}.yaml`);
      writeFileSync(config, [
        `ID: box-demo-${n}`, `REDIS_URL: unix://${socket}`, `ENTRANCE_URLS: ["${wsUrl}"]`, `ENROLMENT_TOKEN: ${fleetToken}`, 'BOX_SERVER_IP: 127.0.0.1', 'BOX_PORT: 0', 'BOX_HTTP_PORT: 0',
        `BASE_DIRECTORY: ${path.join(boxDir, 'files')}`, `RUN_DIRECTORY: ${path.join(boxDir, 'run')}`, 'BANDWIDTH_TEST_MB: 2', 'DISK_RESERVE_MB: 64', 'METRICS_PORT: 0',
        // A made-up place per box, so SEARCH ranking by distance has something to rank.
        `GEOIP: {CITY: ${DEMO_PLACES[n - 1]?.city}, COUNTRY: TW, LOC: "${DEMO_PLACES[n - 1]?.loc}"}`, '',
      ].join('\n'));
      const box = await sup.start(`box-${n}`, BIN, ['agent', '--config', config], {
        logFile: path.join(dir, `box-${n}.log`),
        ready: /"connectWs":"([^"]+)","http":"([^"]+)"/,
      });
      boxLines.push(`box-demo-${n}: ${box.match[2]}`);
    }
    const live = path.join(dir, 'live');
    rmSync(live, { recursive: true, force: true });
    mkdirSync(live, { recursive: true });
    // The publisher gets an account as a real one does: the entrance answers only publishers with one.
    const { stdout: accountJson } = await execFileP(BIN, ['entrance', 'publisher', 'create', 'demo', '--config', entranceConfig, '--json']);
    const publisherToken = (JSON.parse(accountJson) as { TOKEN: string }).TOKEN;
    const publisherConfig = path.join(dir, 'publisher.yaml');
    writeFileSync(publisherConfig, [
      'ID: publisher-demo', `ENROLMENT_TOKEN: ${publisherToken}`, `REDIS_URL: unix://${socket}`, `ENTRANCE_URLS: ["${wsUrl}"]`, 'PUBLISHER_HTTP_IP: 127.0.0.1', 'PUBLISHER_HTTP_PORT: 0',
      `PUBLISHER_WATCH_DIRECTORY: ${live}`, `RUN_DIRECTORY: ${path.join(dir, 'publisher')}`, 'PUBLISHER_PING_ENTRANCE_FREQ: 5', 'MIN_HTTP_PEERS: 3', 'REPLICAS: 2', 'FILE_TTL: 60', 'METRICS_PORT: 0',
      'GEOIP: {CITY: Taipei, COUNTRY: TW, LOC: "25.04,121.51"}', '',
    ].join('\n'));
    const publisher = await sup.start('publisher', BIN, ['publisher', '--config', publisherConfig], {
      logFile: path.join(dir, 'publisher.log'),
      ready: /"viewer":"([^"]+)"/,
    });
    await sup.start('ffmpeg', 'ffmpeg', testStreamArgs({ directory: live }), { logFile: path.join(dir, 'ffmpeg.log'), ready: /Opening .*\.m3u8/ });
    process.stdout.write(`viewer: ${publisher.match[1]}?src=index.m3u8\n`);
    process.stdout.write(`dashboard: ${wsUrl.replace(/^ws:/, 'http:').replace(/\/dandelion\/ws\/$/, '/dashboard/')}\n`);
    process.stdout.write(`login: ${DEMO_USER} / ${password}\n`);
    process.stdout.write(`${boxLines.join('\n')}\nlogs: ${dir}\nPress Ctrl-C to stop.\n`);
  } catch (err) {
    await sup.stopAll();
    throw err;
  }
  await new Promise(() => undefined); // until a signal
}
