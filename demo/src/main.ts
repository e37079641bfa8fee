/**
 * `dandelion demo`: the Dandelion network on this machine, on loopback only. Today: a Redis and an
 * entrance; each role's logs go to files under run/demo/. Ctrl-C stops everything it started.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT_CODES_HELP, parseRoleArgs } from '../../shared/src/cli.js';
import { Supervisor } from './supervisor.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const BIN = path.join(ROOT, 'bin', 'dandelion');

export const DEMO_HELP = `Usage: dandelion demo [--dir DIR]

Runs a Dandelion network on this machine, on loopback: Redis and an entrance. Prints the URLs, keeps
each role's log in DIR (default run/demo), and stops everything on Ctrl-C.

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
    process.stdout.write(`logs: ${dir}\nPress Ctrl-C to stop.\n`);
  } catch (err) {
    await sup.stopAll();
    throw err;
  }
  await new Promise(() => undefined); // until a signal
}
