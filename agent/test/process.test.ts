// `dandelion agent` as a process: --help, a bad key named with exit 2, and SIGTERM stopping the agent
// and the nginx it manages with exit 0 within 5 s.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { startRedis } from '../../test/helpers/redis.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { eventually } from '../../test/helpers/agent.js';
import { isAlive as alive } from '../../test/helpers/children.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/dandelion');

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(BIN, args);
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}


t.test('--help and bad config', async (t) => {
  const help = await run(['agent', '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /Usage: dandelion agent/);
  const dir = t.testdir();
  writeFileSync(path.join(dir, 'bad.yaml'), 'NGINX: apache\nEXPIRY_CRON: whenever\nBOX_HTTP_PORT: http\n');
  const bad = await run(['agent', '--config', path.join(dir, 'bad.yaml')]);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /NGINX: must be one of managed, system/);
  t.match(bad.stderr, /EXPIRY_CRON: must be a node-cron schedule/);
  t.match(bad.stderr, /BOX_HTTP_PORT: must be a number/);
});

t.test('SIGTERM stops the agent and its nginx, exit 0', async (t) => {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url });
  const dir = t.testdir();
  const file = path.join(dir, 'agent.yaml');
  writeFileSync(file, [
    'ID: box-process', `REDIS_URL: ${redis.url}`, `ENTRANCE_URLS: ["${entrance.url}"]`, 'BOX_SERVER_IP: 127.0.0.1', 'BOX_PORT: 0', 'BOX_HTTP_PORT: 0',
    `BASE_DIRECTORY: ${dir}/files`, `RUN_DIRECTORY: ${dir}/run`, 'BANDWIDTH_TEST_CRON: ""', 'BANDWIDTH_UP: 50', 'DISK_RESERVE_MB: 1', 'BOX_PING_ENTRANCE_FREQ: 0.5', '',
  ].join('\n'));
  const p = spawn(BIN, ['agent', '--config', file]);
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
  t.ok(await eventually(() => out.includes('box agent started')), 'started');
  const r = redis.client();
  t.ok(await eventually(() => r.zscore(`${entrance.id}:BOX_SET`, 'box-process')), 'registered');
  const nginxPid = Number(readFileSync(path.join(dir, 'run', 'nginx.pid'), 'utf8'));
  t.ok(alive(nginxPid), 'nginx running');
  const t0 = Date.now();
  p.kill('SIGTERM');
  t.equal(await exited, 0, 'exit 0');
  t.ok(Date.now() - t0 < 5_000, 'within 5 s');
  t.ok(await eventually(() => !alive(nginxPid), 3_000), 'its nginx stopped too');
  t.match(out, /"msg":"stopped"/);
});
