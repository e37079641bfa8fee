/**
 * `dandelion demo`: the Dandelion network on this machine, on loopback only: a Redis, an entrance and
 * three boxes; each role's logs go to files under run/demo/. Ctrl-C stops everything it started.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT_CODES_HELP, parseRoleArgs } from '../../shared/src/cli.js';
import { Supervisor } from './supervisor.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const BIN = path.join(ROOT, 'bin', 'dandelion');
const BOXES = 3;
const DEMO_PLACES = [
  { city: 'Taipei', loc: '25.03,121.56' },
  { city: 'Taichung', loc: '24.15,120.67' },
  { city: 'Kaohsiung', loc: '22.63,120.30' },
];

export const DEMO_HELP = `Usage: dandelion demo [--dir DIR]

Runs a Dandelion network on this machine, on loopback: Redis, an entrance and three boxes (each its
own agent and nginx, folders and ports). Prints the URLs, keeps each role's log in DIR (default
run/demo), and stops everything on Ctrl-C.

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
    const entranceConfig = path.join(dir, 'entrance.yaml');
    writeFileSync(
      entranceConfig,
      [`ENTRANCE_IP: 127.0.0.1`, `ENTRANCE_PORT: 0`, `REDIS_URL: unix://${socket}`, `RUN_DIRECTORY: ${path.join(dir, 'entrance')}`, `ENTRANCE_EXPIRE_BOX_TIME: 30`, ''].join('\n'),
    );
    const entrance = await sup.start('entrance', BIN, ['entrance', '--config', entranceConfig], {
      logFile: path.join(dir, 'entrance.log'),
      ready: /"url":"(ws:[^"]+)"/,
    });
    const wsUrl = entrance.match[1] as string;
    process.stdout.write(`entrance: ${wsUrl}\n`);
    process.stdout.write(`index: ${wsUrl.replace(/^ws:/, 'http:').replace(/ws\/$/, '')}\n`);
    for (let n = 1; n <= BOXES; n++) {
      const boxDir = path.join(dir, `box-${n}`);
      const config = path.join(dir, `box-${n}.yaml`);
      writeFileSync(config, [
        `ID: box-demo-${n}`, `REDIS_URL: unix://${socket}`, `ENTRANCE_URLS: ["${wsUrl}"]`, 'BOX_SERVER_IP: 127.0.0.1', 'BOX_PORT: 0', 'BOX_HTTP_PORT: 0',
        `BASE_DIRECTORY: ${path.join(boxDir, 'files')}`, `RUN_DIRECTORY: ${path.join(boxDir, 'run')}`, 'BANDWIDTH_TEST_MB: 2', 'DISK_RESERVE_MB: 64',
        // A made-up place per box, so SEARCH ranking by distance has something to rank.
        `GEOIP: {CITY: ${DEMO_PLACES[n - 1]?.city}, COUNTRY: TW, LOC: "${DEMO_PLACES[n - 1]?.loc}"}`, '',
      ].join('\n'));
      const box = await sup.start(`box-${n}`, BIN, ['agent', '--config', config], {
        logFile: path.join(dir, `box-${n}.log`),
        ready: /"connectWs":"([^"]+)","http":"([^"]+)"/,
      });
      process.stdout.write(`box-demo-${n}: ${box.match[2]} (publishers: ${box.match[1]})\n`);
    }
    process.stdout.write(`logs: ${dir}\nPress Ctrl-C to stop.\n`);
  } catch (err) {
    await sup.stopAll();
    throw err;
  }
  await new Promise(() => undefined); // until a signal
}
