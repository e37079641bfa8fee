/**
 * box ingest: MB/s of 2 MB segments one agent receives over one PUBLISH socket, hashes, writes durably
 * and acknowledges, against nginx WebDAV PUT of the same files into the same disk, one after another,
 * each followed by the fsyncs the agent does. The agent is measured twice: with a few frames in flight
 * and zero-masked (as the publisher sends, within what the box holds for one socket), and one at a time
 * with random masks (as the original's publishers send).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { encodeFrame } from '../../shared/src/protocol/index.js';
import { freePort } from '../../shared/src/listen.js';
import { track } from '../../test/helpers/children.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { ORIGINAL_PUBLISHERS } from '../../test/helpers/messages.js';
import { startRedis } from '../../test/helpers/redis.js';
import { connectPeer } from '../../test/helpers/ws-client.js';
import type { TestPeer } from '../../test/helpers/ws-client.js';
import { zeroMask } from '../../publisher/src/boxes/box-connection.js';
import type { Benchmark, Cleanup, Row } from './common.js';
import { ratioRow } from './common.js';
import { NODE_AGENT, startAgentProcess } from './agent-process.js';

const FILE_BYTES = 2 * 1024 * 1024;
/** Frames in flight when pipelined: 4 × 2 MB stays within the 10 MB one socket may hold (MAX_FILE_MB of agent-process.ts). */
const WINDOW = 4;
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
  noisy: true,
  async run({ smoke }, cleanup): Promise<Row[]> {
    const count = smoke ? 5 : 100;
    const files = Array.from({ length: count }, () => randomBytes(FILE_BYTES));
    const totalMB = (count * FILE_BYTES) / 1e6;

    const redis = await startRedis(cleanup);
    // Its publishers send PUBLISH without a grant, as the original's do (grants: agent/test/trust/).
    const entrance = await startEntrance(cleanup, { redisUrl: redis.url, env: ORIGINAL_PUBLISHERS });
    // The agent in its own process with the default heartbeat period, as on a box: the publisher's side
    // (masking 2 MB frames) stays in this process, and the test helper's 0.5 s heartbeats (readings taken
    // with child processes) do not land on the agent's event loop ten times as often as on a box.
    const box = await startAgentProcess(cleanup, { command: NODE_AGENT, redisUrl: redis.url, entranceUrl: entrance.url, boxId: 'box-benchingest', pingSeconds: 5 });
    cleanup.teardown(() => rmSync(entrance.runDirectory, { recursive: true, force: true }));
    const publisher = await publishTo(box.connectWs, cleanup, zeroMask);
    const original = await publishTo(box.connectWs, cleanup);
    const pipelinedStart = process.hrtime.bigint();
    const send = (i: number): void => publisher.sendRaw(encodeFrame({ FILE_PATH: `/live/seg-${i}.ts`, TTL: 600 }, files[i] as Buffer), true);
    for (let i = 0; i < Math.min(WINDOW, count); i++) send(i);
    for (let i = 0; i < count; i++) {
      await expectAccepted(publisher, i);
      if (i + WINDOW < count) send(i + WINDOW);
    }
    const pipelinedSeconds = Number(process.hrtime.bigint() - pipelinedStart) / 1e9;
    const agentStart = process.hrtime.bigint();
    for (let i = 0; i < count; i++) {
      original.sendRaw(encodeFrame({ FILE_PATH: `/one/seg-${i}.ts`, TTL: 600 }, files[i] as Buffer), true);
      await expectAccepted(original, i);
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

    // nginx does not fsync what it writes; the agent must (a box loses power). For an honest second
    // reference: the same PUTs, each followed by fsync of the file and of its folder, as the agent does.
    const syncStart = process.hrtime.bigint();
    for (let i = 0; i < count; i++) {
      const file = `/publisher-bench/synced/seg-${i}.ts`;
      const status = await put(dav.base, file, files[i] as Buffer);
      if (status !== 201 && status !== 204) throw new Error(`WebDAV PUT ${i} answered ${status}`);
      for (const target of [path.join(dav.root, file), path.dirname(path.join(dav.root, file))]) {
        const handle = await open(target, 'r');
        await handle.sync();
        await handle.close();
      }
    }
    const syncSeconds = Number(process.hrtime.bigint() - syncStart) / 1e9;

    const note = `${count} files; the agent hashes, writes, fdatasyncs, renames and fsyncs the folder; the reference PUTs one at a time, each followed by fsync of the file and its folder`;
    return [ratioRow({
      bench: 'ingest', metric: `2 MB segments, MB/s, ${WINDOW} in flight vs WebDAV + fsync`, unit: 'MB/s', project: totalMB / pipelinedSeconds, reference: totalMB / syncSeconds,
      goal: 'ratio ≥ 0.9', note: `${note}; the agent gets ${WINDOW} zero-masked frames in flight on one socket, as the publisher sends them`,
    }, 0.9), ratioRow({
      bench: 'ingest', metric: '2 MB segments, MB/s, one at a time vs WebDAV + fsync', unit: 'MB/s', project: totalMB / agentSeconds, reference: totalMB / syncSeconds,
      goal: 'report', note: `${note}; the agent gets one randomly masked frame at a time, as the original's publishers send`,
    }, 0), ratioRow({
      bench: 'ingest', metric: `2 MB segments, MB/s, ${WINDOW} in flight vs WebDAV`, unit: 'MB/s', project: totalMB / pipelinedSeconds, reference: totalMB / davSeconds,
      goal: 'report', note: 'nginx WebDAV PUT one at a time, without fsync: what durability costs',
    }, 0)];
  },
};

async function publishTo(url: string, cleanup: Cleanup, generateMask?: (mask: Buffer) => void): Promise<TestPeer> {
  const peer = await connectPeer(url, generateMask ? { generateMask } : {});
  cleanup.teardown(() => peer.close());
  const hello = await peer.ask({ ID: 'publisher-bench', IP: '127.0.0.1', TYPE: 'PUBLISHER', COMMAND: 'PUBLISH' });
  if (hello.MESSAGE !== 'ACCEPTED') throw new Error(`PUBLISH refused: ${JSON.stringify(hello)}`);
  return peer;
}

async function expectAccepted(peer: TestPeer, i: number): Promise<void> {
  const ack = await peer.next();
  if (ack.MESSAGE !== 'ACCEPTED' || ack.SIZE !== FILE_BYTES) throw new Error(`file ${i} not accepted: ${JSON.stringify(ack)}`);
}
