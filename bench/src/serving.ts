/**
 * box serving: requests/s and MB/s viewers get from a box's nginx (the agent running, tailing its access
 * log) for 2 MB segments and for playlists, against the same nginx with the same config serving the same
 * files with no agent running. Load from wrk (one thread, keep-alive connections) on loopback: autocannon
 * parses bodies in JavaScript and tops out near 20 MB/s on 2 MB responses, far below nginx.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeFrame } from '../../shared/src/protocol/index.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { ORIGINAL_PUBLISHERS } from '../../test/helpers/messages.js';
import { startRedis } from '../../test/helpers/redis.js';
import { connectPeer } from '../../test/helpers/ws-client.js';
import { track } from '../../test/helpers/children.js';
import { NODE_AGENT, startAgentProcess } from './agent-process.js';
import { cpuSeconds, treeCpuSeconds } from './process-cpu.js';
import type { Benchmark, Row } from './common.js';
import { ratioRow } from './common.js';

const NGINX = process.env.NGINX_PATH ?? '/usr/sbin/nginx';
const WRK = 'wrk';
const FILE_BYTES = 2 * 1024 * 1024;
const SEGMENTS = 20;
const PUBLISHER = 'publisher-benchserve';
const CONNECTIONS = 16;
const MIN_RATIO = 0.95;
/** The agent may take at most this share of nginx's own CPU for the bytes nginx serves. */
const MAX_CPU_RATIO = 0.05;

function playlist(): string {
  const lines = ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-TARGETDURATION:2', '#EXT-X-MEDIA-SEQUENCE:0'];
  for (let i = 0; i < SEGMENTS; i++) lines.push('#EXTINF:2.000,', `seg-${i}.ts`);
  return `${lines.join('\n')}\n`;
}

interface Load {
  requestsPerSecond: number;
  mbPerSecond: number;
  bytes: number;
  bad: number;
}

/** CPU seconds per served GB of the agent process and of nginx (master and workers) during one load. */
interface CpuPerGb {
  agent: number;
  nginx: number;
}

/** Runs `fn` (a wrk load) and charges the CPU the agent and nginx used meanwhile to the bytes it served. */
function withCpu(agentPid: number, nginxPid: number, fn: () => Load): { load: Load; cpu: CpuPerGb } {
  const agent0 = cpuSeconds(agentPid);
  const nginx0 = treeCpuSeconds(nginxPid);
  const load = fn();
  const gb = load.bytes / 1e9;
  return { load, cpu: { agent: (cpuSeconds(agentPid) - agent0) / gb, nginx: (treeCpuSeconds(nginxPid) - nginx0) / gb } };
}

/**
 * The agent's CPU per GB against nginx's own for the same bytes: "ratio ≤ max" when `max` is given, else
 * reported only.
 */
function cpuRow(metric: string, cpu: CpuPerGb, max: number | undefined, note: string): Row {
  const ratio = cpu.nginx > 0 ? cpu.agent / cpu.nginx : undefined;
  return {
    bench: 'serving', metric, unit: 'CPU s/GB', project: cpu.agent, reference: cpu.nginx, ratio,
    goal: max === undefined ? 'report' : `ratio ≤ ${max}`, pass: ratio !== undefined && (max === undefined || ratio <= max), note,
  };
}

/** A wrk script: requests `paths` in turn on each connection, and prints its summary as JSON. */
function wrkScript(paths: string[]): string {
  return `local paths = { ${paths.map((p) => JSON.stringify(p)).join(', ')} }
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\\n{"requests":%d,"bytes":%d,"us":%d,"bad":%d}\\n', summary.requests, summary.bytes, summary.duration, e.connect + e.read + e.write + e.timeout + e.status))
end
`;
}

function load(base: string, paths: string[], durationSeconds: number): Load {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dandelion-bench-wrk-'));
  try {
    const script = path.join(dir, 'paths.lua');
    writeFileSync(script, wrkScript(paths));
    const r = spawnSync(WRK, ['-t1', `-c${CONNECTIONS}`, `-d${durationSeconds}s`, '-s', script, base], { encoding: 'utf8', timeout: (durationSeconds + 30) * 1000 });
    if (r.error) throw new Error(`${WRK}: ${r.error.message} (install the Debian package wrk: make bench does)`);
    const json = r.stdout.split('\n').find((l) => l.startsWith('{"requests"'));
    if (r.status !== 0 || !json) throw new Error(`wrk failed (${r.status}): ${r.stderr}${r.stdout}`);
    const s = JSON.parse(json) as { requests: number; bytes: number; us: number; bad: number };
    return { requestsPerSecond: s.requests / (s.us / 1e6), mbPerSecond: s.bytes / 1e6 / (s.us / 1e6), bytes: s.bytes, bad: s.bad };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const serving: Benchmark = {
  name: 'serving',
  noisy: true,
  async run({ smoke }, cleanup): Promise<Row[]> {
    const seconds = smoke ? 1 : 8;
    const redis = await startRedis(cleanup);
    // Its publishers send PUBLISH without a grant, as the original's do (grants: agent/test/trust/).
    const entrance = await startEntrance(cleanup, { redisUrl: redis.url, env: ORIGINAL_PUBLISHERS });
    cleanup.teardown(() => rmSync(entrance.runDirectory, { recursive: true, force: true }));
    // Upload capacity far above loopback's, so the viewer rate limit (limit_rate) never binds: this
    // measures nginx and what the agent costs it, not the household's budget.
    const agent = await startAgentProcess(cleanup, {
      // The box's default heartbeat period (5 s), as a box runs: the agent CPU rows charge it to the bytes served.
      command: NODE_AGENT, redisUrl: redis.url, entranceUrl: entrance.url, boxId: 'box-benchserve', pingSeconds: 5,
      settings: { BANDWIDTH_UP: '1000000', BANDWIDTH_DOWN: '1000000', VIEWER_SHARE: '1', VIEWER_MAX_CONNECTIONS: '1024' },
    });
    const publisher = await connectPeer(agent.connectWs);
    cleanup.teardown(() => publisher.close());
    const hello = await publisher.ask({ ID: PUBLISHER, IP: '127.0.0.1', TYPE: 'PUBLISHER', COMMAND: 'PUBLISH' });
    if (hello.MESSAGE !== 'ACCEPTED') throw new Error(`PUBLISH refused: ${JSON.stringify(hello)}`);
    const files: Array<[string, Buffer]> = [['live/index.m3u8', Buffer.from(playlist())]];
    for (let i = 0; i < SEGMENTS; i++) files.push([`live/seg-${i}.ts`, randomBytes(FILE_BYTES)]);
    for (const [file, content] of files) {
      publisher.sendRaw(encodeFrame({ FILE_PATH: file, TTL: 3600 }, content), true);
      const ack = await publisher.next();
      if (ack.MESSAGE !== 'ACCEPTED') throw new Error(`${file} not accepted: ${JSON.stringify(ack)}`);
    }
    await publisher.close();
    const segmentPaths = Array.from({ length: SEGMENTS }, (_, i) => `/${PUBLISHER}/live/seg-${i}.ts`);
    const playlistPaths = [`/${PUBLISHER}/live/index.m3u8`];
    const check = await fetch(`${agent.http}${PUBLISHER}/live/seg-0.ts`);
    if (check.status !== 200 || (await check.arrayBuffer()).byteLength !== FILE_BYTES) throw new Error(`the box's nginx answered ${check.status} for a segment`);

    // The agent's CPU is read from /proc while nginx serves at full speed: every CPU-ms the tail spends
    // on the log is taken from nginx (and wrk) on this machine's cores.
    const managedNginx = Number(readFileSync(path.join(agent.runDirectory, 'nginx.pid'), 'utf8'));
    const { load: projectSegments, cpu: segmentsCpu } = withCpu(agent.pid, managedNginx, () => load(agent.http, segmentPaths, seconds));
    const { load: projectPlaylists, cpu: playlistsCpu } = withCpu(agent.pid, managedNginx, () => load(agent.http, playlistPaths, seconds));
    const conf = path.join(agent.runDirectory, 'nginx.conf');
    const confText = readFileSync(conf, 'utf8');
    const code = await agent.stop();
    if (code !== 0) throw new Error(`the agent exited ${code} on SIGTERM`);

    // The reference: the config the agent generated, run by nginx alone on the same port and files.
    if (!existsSync(path.join(agent.baseDirectory, PUBLISHER, 'live', 'seg-0.ts'))) throw new Error('the files were gone once the agent stopped');
    const nginx = spawn(NGINX, ['-c', conf, '-p', agent.runDirectory, '-e', path.join(agent.runDirectory, 'nginx-error.log')], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    track(nginx);
    let stderr = '';
    nginx.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<void>((r) => nginx.once('exit', () => r()));
    cleanup.teardown(async () => {
      if (nginx.exitCode === null && nginx.signalCode === null) {
        nginx.kill('SIGQUIT');
        await exited;
      }
    });
    let up = false;
    for (let i = 0; i < 200 && !up && nginx.exitCode === null; i++) {
      up = await fetch(`${agent.http}${PUBLISHER}/live/index.m3u8`).then((r) => r.ok, () => false);
      if (!up) await new Promise((r) => setTimeout(r, 25));
    }
    if (!up) throw new Error(`nginx alone did not start: ${stderr}`);
    const referenceSegments = load(agent.http, segmentPaths, seconds);
    const referencePlaylists = load(agent.http, playlistPaths, seconds);

    const shape = `${CONNECTIONS} keep-alive connections, ${seconds} s each; ${SEGMENTS} × 2 MB segments in turn, or one ${files[0]?.[1].length ?? 0}-byte playlist; reference: nginx with the agent's generated ${confText.length}-byte config, agent stopped`;
    const bad = (a: Load, b: Load): string => (a.bad + b.bad > 0 ? `; errors or non-2xx: ${a.bad} box, ${b.bad} nginx alone` : '');
    const rows = [
      ratioRow({ bench: 'serving', metric: 'segments MB/s', unit: 'MB/s', project: projectSegments.mbPerSecond, reference: referenceSegments.mbPerSecond, goal: `ratio ≥ ${MIN_RATIO}`, note: shape + bad(projectSegments, referenceSegments) }, MIN_RATIO),
      ratioRow({ bench: 'serving', metric: 'segments requests/s', unit: '/s', project: projectSegments.requestsPerSecond, reference: referenceSegments.requestsPerSecond, goal: `ratio ≥ ${MIN_RATIO}`, note: shape }, MIN_RATIO),
      ratioRow({ bench: 'serving', metric: 'playlists requests/s', unit: '/s', project: projectPlaylists.requestsPerSecond, reference: referencePlaylists.requestsPerSecond, goal: `ratio ≥ ${MIN_RATIO}`, note: shape + bad(projectPlaylists, referencePlaylists) }, MIN_RATIO),
      ratioRow({ bench: 'serving', metric: 'playlists MB/s', unit: 'MB/s', project: projectPlaylists.mbPerSecond, reference: referencePlaylists.mbPerSecond, goal: `ratio ≥ ${MIN_RATIO}`, note: shape }, MIN_RATIO),
      cpuRow('agent CPU per served GB, segments', segmentsCpu, MAX_CPU_RATIO, `agent process CPU time (/proc schedstat, all threads) per GB wrk received, vs nginx's master and workers for the same bytes in the same window; ${(projectSegments.bytes / 1e9).toFixed(2)} GB in ${seconds} s`),
      // Per GB, playlists are all per-request work (one log line per small response), for nginx and the tail alike.
      cpuRow('agent CPU per served GB, playlists', playlistsCpu, undefined, `as above, for the playlist load: one log line per ${files[0]?.[1].length ?? 0}-byte response; ${(projectPlaylists.bytes / 1e9).toFixed(3)} GB in ${seconds} s`),
    ];
    for (const [row, a, b] of [[rows[0], projectSegments, referenceSegments], [rows[2], projectPlaylists, referencePlaylists]] as const) {
      if (row) row.pass &&= a.bad === 0 && b.bad === 0;
    }
    return rows;
  },
};
