/**
 * box ingest: MB/s of 2 MB segments one agent receives over one PUBLISH socket, hashes, writes durably
 * and acknowledges, against nginx WebDAV PUT of the same files into the same disk, one after another.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeFrame } from '../../shared/src/protocol/index.js';
import { freePort } from '../../shared/src/listen.js';
import { startAgent } from '../../test/helpers/agent.js';
import { track } from '../../test/helpers/children.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { startRedis } from '../../test/helpers/redis.js';
import { connectPeer } from '../../test/helpers/ws-client.js';
import type { Benchmark, Cleanup, Row } from './common.js';
import { ratioRow } from './common.js';

const FILE_BYTES = 2 * 1024 * 1024;
const NGINX = process.env.NGINX_PATH ?? '/usr/sbin/nginx';

/** nginx with only WebDAV PUT, on its own port and temp paths. */
async function startDavNginx(cleanup: Cleanup): Promise<{ base: string; root: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dandelion-bench-dav-'));
  cleanup.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const root = path.join(dir, 'files');
  for (const d of ['files', 'tmp', 'logs']) mkdirSync(path.join(dir, d));
  const port = await freePort();
  const t = (name: string): string => path.join(dir, 'tmp', name);
  writeFileSync(path.join(dir, 'nginx.conf'), `daemon off;
user root;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${t('body')};
  proxy_temp_path ${t('proxy')};
  fastcgi_temp_path ${t('fastcgi')};
  uwsgi_temp_path ${t('uwsgi')};
  scgi_temp_path ${t('scgi')};
  server {
    listen 127.0.0.1:${port};
    root ${root};
    location / {
      dav_methods PUT;
      create_full_put_path on;
      client_max_body_size 10m;
    }
  }
}
`);
  const proc = spawn(NGINX, ['-p', dir, '-c', path.join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  track(proc);
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  cleanup.teardown(async () => {
    if (proc.exitCode === null) {
      proc.kill('SIGQUIT');
      await exited;
    }
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    if (proc.exitCode !== null) break;
    try {
      await fetch(`${base}/`, { method: 'HEAD' });
      return { base, root };
    } catch {
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  let log = '';
  try {
    log = readFileSync(path.join(dir, 'logs', 'error.log'), 'utf8');
  } catch {
    /* intentional: no log yet */
  }
  throw new Error(`nginx (WebDAV) did not start: ${stderr}${log}`);
}

function put(base: string, file: string, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${file}`, { method: 'PUT', headers: { 'content-length': body.length } }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    req.once('error', reject);
    req.end(body);
  });
}

export const ingest: Benchmark = {
  name: 'ingest',
  async run({ smoke }, cleanup): Promise<Row[]> {
    const count = smoke ? 5 : 100;
    const files = Array.from({ length: count }, () => randomBytes(FILE_BYTES));
    const totalMB = (count * FILE_BYTES) / 1e6;

    const redis = await startRedis(cleanup);
    const entrance = await startEntrance(cleanup, { redisUrl: redis.url });
    const box = await startAgent(cleanup, { redisUrl: redis.url, entranceUrls: [entrance.url], env: { DANDELION_MAX_FILE_MB: '10' } });
    // The helpers leave their folders (tests keep them to look at); a benchmark removes its files.
    cleanup.teardown(() => rmSync(path.dirname(box.baseDirectory), { recursive: true, force: true }));
    cleanup.teardown(() => rmSync(entrance.runDirectory, { recursive: true, force: true }));
    const publisher = await connectPeer(box.status.connectWs);
    cleanup.teardown(() => publisher.close());
    const hello = await publisher.ask({ ID: 'publisher-bench', IP: '127.0.0.1', TYPE: 'PUBLISHER', COMMAND: 'PUBLISH' });
    if (hello.MESSAGE !== 'ACCEPTED') throw new Error(`PUBLISH refused: ${JSON.stringify(hello)}`);
    const agentStart = process.hrtime.bigint();
    for (let i = 0; i < count; i++) {
      publisher.sendRaw(encodeFrame({ FILE_PATH: `/live/seg-${i}.ts`, TTL: 600 }, files[i] as Buffer), true);
      const ack = await publisher.next();
      if (ack.MESSAGE !== 'ACCEPTED' || ack.SIZE !== FILE_BYTES) throw new Error(`file ${i} not accepted: ${JSON.stringify(ack)}`);
    }
    const agentSeconds = Number(process.hrtime.bigint() - agentStart) / 1e9;
    await box.stop();

    const dav = await startDavNginx(cleanup);
    const davStart = process.hrtime.bigint();
    for (let i = 0; i < count; i++) {
      const status = await put(dav.base, `/publisher-bench/live/seg-${i}.ts`, files[i] as Buffer);
      if (status !== 201 && status !== 204) throw new Error(`WebDAV PUT ${i} answered ${status}`);
    }
    const davSeconds = Number(process.hrtime.bigint() - davStart) / 1e9;

    return [ratioRow({
      bench: 'ingest', metric: '2 MB segments, MB/s', unit: 'MB/s', project: totalMB / agentSeconds, reference: totalMB / davSeconds,
      goal: 'ratio ≥ 0.9', note: `${count} files; agent hashes and fsyncs, nginx WebDAV does not fsync`,
    }, 0.9)];
  },
};
