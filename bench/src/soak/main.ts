/**
 * `dandelion soak [--boxes N] [--minutes M] [--entrances E] [--period S]`: simulated boxes (real sockets,
 * real EXCHANGE payloads, signed upgrades; boxes.ts) against E entrance processes sharing one fleet on
 * one Redis, for M minutes after every box has connected. It reports dropped heartbeats (goal 0),
 * EXCHANGE latency, each entrance's RSS per box and its trend, and Redis memory per box, prints the
 * table and writes it to bench/results/soak-<time>.md. Exit status 0 when no heartbeat was dropped and
 * every box connected, 1 otherwise, 2 for bad options.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { newBoxKey, publicKeyText } from '../../../shared/src/enrolment/codec.js';
import { UsageError } from '../../../shared/src/cli.js';
import { Redis } from 'ioredis';
import { startRedis } from '../../../test/helpers/redis.js';
import { startRedisCluster } from '../../../test/helpers/redis-cluster.js';
import { NODE_AGENT, ROOT, rssMiB } from '../agent-process.js';
import { Cleanup, decodeHistogram, latencyHistogram } from '../common.js';
import { freePort } from '../../../shared/src/listen.js';
import { enrolBoxes, exited, sleep, startServer, waitForPort } from '../entrance-process.js';
import type { ServerProcess } from '../entrance-process.js';
import { BOXES_CHILD_ENV } from './boxes.js';
import type { BoxesCommand, BoxesRequest, ConnectedReport, WindowReport } from './boxes.js';
import { formatSoakReport, rssTrend } from './report.js';
import type { EntranceSample, SoakFigures } from './report.js';

export interface SoakOptions {
  boxes: number;
  minutes: number;
  entrances: number;
  periodSeconds: number;
  /** Child processes the boxes are spread over (more when the open-file limit asks for it). */
  clients: number;
  /** A six-node Redis Cluster (three masters, a replica each) or one Redis. */
  redis: 'cluster' | 'single';
  sampleSeconds: number;
}

const DEFAULTS: SoakOptions = { boxes: 100_000, minutes: 10, entrances: 3, periodSeconds: 60, clients: 2, sampleSeconds: 30, redis: 'cluster' };
const FLEET_ID = 'entrance-soakfleet';
/** One source address has ~28,000 ephemeral ports towards one entrance; 16 leave room for reconnects. */
const LOCAL_ADDRESSES = Array.from({ length: 16 }, (_, i) => `127.0.${i + 1}.1`);
/** Files this process needs open besides one per box socket. */
const SPARE_FILES = 2000;

const USAGE = `usage: dandelion soak [--boxes N] [--minutes M] [--entrances E] [--period SECONDS] [--clients C]
  Simulated boxes heartbeat to E entrance processes sharing one fleet on a Redis Cluster (six nodes)
  or one Redis, for M minutes after all have connected. Defaults: ${DEFAULTS.boxes} boxes, ${DEFAULTS.minutes} min, ${DEFAULTS.entrances} entrances, a ${DEFAULTS.periodSeconds} s period, ${DEFAULTS.clients} client processes.
  Every process holds one file per socket: with fewer files allowed (ulimit -n; make soak raises it to
  the hard limit) it uses more client processes, and lowers the boxes to what the entrances can hold.`;

export function parseSoakArgs(args: readonly string[]): SoakOptions {
  const opts = { ...DEFAULTS };
  const numeric: Record<string, { key: Exclude<keyof SoakOptions, 'redis'>; min: number; max: number }> = {
    '--boxes': { key: 'boxes', min: 1, max: 1_000_000 },
    '--minutes': { key: 'minutes', min: 0.1, max: 24 * 60 },
    '--entrances': { key: 'entrances', min: 1, max: 16 },
    '--period': { key: 'periodSeconds', min: 1, max: 3600 },
    '--clients': { key: 'clients', min: 1, max: 64 },
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--redis') {
      const value = args[++i];
      if (value !== 'cluster' && value !== 'single') throw new UsageError(`--redis must be cluster or single\n${USAGE}`);
      opts.redis = value;
      continue;
    }
    const spec = numeric[arg];
    if (!spec) throw new UsageError(`unknown option ${arg}\n${USAGE}`);
    const value = Number(args[++i]);
    if (!Number.isFinite(value) || value < spec.min || value > spec.max) throw new UsageError(`${arg} must be a number from ${spec.min} to ${spec.max}\n${USAGE}`);
    opts[spec.key] = spec.key === 'minutes' || spec.key === 'periodSeconds' ? value : Math.round(value);
  }
  return opts;
}

/**
 * The boxes asked for, or fewer when the entrances cannot hold them: each entrance process holds one
 * open file per box socket, and the open-file limit here is per process. `lowered` says why.
 */
export function boxesThatFit(opts: Pick<SoakOptions, 'boxes' | 'entrances'>, filesPerProcess: number): { boxes: number; lowered?: string } {
  const most = opts.entrances * filesPerProcess;
  if (opts.boxes <= most) return { boxes: opts.boxes };
  return { boxes: most, lowered: `lowered from ${opts.boxes} to ${most} boxes: the open-file limit (ulimit -n) leaves ${filesPerProcess} sockets per entrance process, and ${opts.entrances} entrance processes hold at most ${most} (raise the hard limit, or pass --entrances)` };
}

function openFileLimit(): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m?.[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m?.[1] ?? 0);
}

/** The soak's Redis: what the entrances are told, a client for the set-up, and the memory its masters use. */
interface SoakRedis {
  env: Record<string, string>;
  client(): Redis;
  usedBytes(): Promise<number>;
}

/** used_memory of each master, summed (a replica holds a copy, not more boxes). */
async function mastersUsedBytes(ports: readonly number[]): Promise<number> {
  let total = 0;
  for (const port of ports) {
    const node = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await node.connect();
      const info = await node.info();
      if (/role:master/.test(info)) total += Number(/used_memory:(\d+)/.exec(info)?.[1] ?? Number.NaN);
    } finally {
      node.disconnect();
    }
  }
  return total;
}

async function startSoakRedis(cleanup: Cleanup, kind: SoakOptions['redis']): Promise<SoakRedis> {
  if (kind === 'cluster') {
    const cluster = await startRedisCluster(cleanup);
    return { env: { DANDELION_REDIS_CLUSTER_NODES: cluster.nodesEnv }, client: () => cluster.client(), usedBytes: () => mastersUsedBytes(cluster.nodes.map((n) => n.port)) };
  }
  const redis = await startRedis(cleanup);
  return {
    env: { DANDELION_REDIS_URL: redis.url },
    client: () => redis.client(),
    async usedBytes() {
      const client = redis.client();
      try {
        return Number(/used_memory:(\d+)/.exec(await client.info('memory'))?.[1] ?? Number.NaN);
      } finally {
        client.disconnect();
      }
    },
  };
}

async function startEntrances(cleanup: Cleanup, redis: SoakRedis, opts: SoakOptions, boxes: number): Promise<Array<ServerProcess & { url: string }>> {
  const perEntrance = String(Math.ceil(boxes / opts.entrances) + 1000);
  const out: Array<ServerProcess & { url: string }> = [];
  for (let i = 0; i < opts.entrances; i++) {
    const port = await freePort();
    const runDirectory = mkdtempSync(path.join(os.tmpdir(), 'dandelion-soak-entrance-'));
    cleanup.teardown(() => rmSync(runDirectory, { recursive: true, force: true }));
    const server = startServer(cleanup, [...NODE_AGENT, 'entrance'], {
      DANDELION_ENTRANCE_IP: '127.0.0.1', DANDELION_ENTRANCE_PORT: String(port), ...redis.env, DANDELION_RUN_DIRECTORY: runDirectory,
      DANDELION_FLEET_ID: FLEET_ID, DANDELION_REQUIRE_ENROLMENT: 'true', DANDELION_REQUIRE_REACHABLE: 'false', DANDELION_LOG_LEVEL: 'warn',
      // The simulated boxes come from 16 loopback addresses: each may hold its share of the sockets.
      DANDELION_MAX_SOCKETS_PER_IP: perEntrance, DANDELION_MAX_HANDSHAKES_PER_SECOND_PER_IP: perEntrance,
      DANDELION_ENTRANCE_EXPIRE_BOX_TIME: String(3 * opts.periodSeconds),
    });
    await waitForPort(port, server.proc, server.output);
    out.push({ ...server, url: `ws://127.0.0.1:${port}/dandelion/ws/` });
  }
  return out;
}

function startClients(cleanup: Cleanup, ids: string[], urls: string[], privateKeyPem: string, opts: SoakOptions, clients: number): ChildProcess[] {
  const share = Math.ceil(ids.length / clients);
  const out: ChildProcess[] = [];
  for (let c = 0; c < clients; c++) {
    const offset = c * share;
    const request: BoxesRequest = {
      urls, ids: ids.slice(offset, offset + share), offset, privateKeyPem, periodMs: opts.periodSeconds * 1000,
      localAddresses: LOCAL_ADDRESSES, openAtOnce: Math.max(10, Math.floor(200 / clients)),
    };
    const child = fork(path.join(ROOT, 'build', 'bench', 'src', 'soak', 'boxes.js'), [], { env: { ...process.env, [BOXES_CHILD_ENV]: '1' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    cleanup.teardown(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited(child);
    });
    send(child, { type: 'boxes', request });
    out.push(child);
  }
  return out;
}

function next<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`a box client exited (${code ?? 'signal'}) before its ${type} report`));
    const onMessage = (m: { type: string }): void => {
      if (m.type !== type) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(m as T);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

const send = (child: ChildProcess, cmd: BoxesCommand): void => {
  child.send(cmd);
};

async function collect(clients: ChildProcess[]): Promise<WindowReport[]> {
  return Promise.all(clients.map((c) => {
    const reply = next<WindowReport>(c, 'report');
    send(c, { type: 'report' });
    return reply;
  }));
}

export async function runSoak(opts: SoakOptions, log: (line: string) => void): Promise<SoakFigures> {
  const perProcess = openFileLimit() - SPARE_FILES;
  if (perProcess < 100) throw new UsageError(`ulimit -n is ${openFileLimit()}: too few open files for a soak (one per socket)`);
  const { boxes, lowered } = boxesThatFit(opts, perProcess);
  if (lowered) log(`soak: ${lowered}`);
  const clients = Math.max(opts.clients, Math.ceil(boxes / perProcess));
  const cleanup = new Cleanup();
  try {
    const redis = await startSoakRedis(cleanup, opts.redis);
    const redisEmpty = await redis.usedBytes();
    const key = newBoxKey();
    const ids = Array.from({ length: boxes }, (_, i) => `box-soak${String(i).padStart(7, '0')}`);
    let t0 = Date.now();
    await enrolBoxes(redis, ids, publicKeyText(key), 200);
    log(`soak: ${boxes} boxes enrolled in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    const entrances = await startEntrances(cleanup, redis, opts, boxes);
    const baseline = entrances.map((e) => rssMiB(e.proc.pid ?? 0) ?? Number.NaN);
    const workers = startClients(cleanup, ids, entrances.map((e) => e.url), key.export({ format: 'pem', type: 'pkcs8' }).toString(), opts, clients);
    t0 = Date.now();
    const connected = await Promise.all(workers.map((w) => next<ConnectedReport>(w, 'connected')));
    const connectSeconds = (Date.now() - t0) / 1000;
    const open = connected.reduce((n, c) => n + c.connected, 0);
    const failedToConnect = connected.reduce((n, c) => n + c.failed, 0);
    const retried = connected.reduce((n, c) => n + c.retried, 0);
    log(`soak: ${open} of ${boxes} boxes connected in ${connectSeconds.toFixed(0)} s${retried > 0 ? `, ${retried} after a retry` : ''}${failedToConnect > 0 ? ` (${failedToConnect} failed: ${connected.find((c) => c.firstError)?.firstError ?? ''})` : ''}`);
    for (const w of workers) send(w, { type: 'heartbeat' });
    await collect(workers); // counts from the connect phase are not the soak's
    const total = latencyHistogram();
    const counts = { sent: 0, accepted: 0, dropped: 0, refused: 0, reconnects: 0 };
    const samples: EntranceSample[] = [];
    const started = Date.now();
    const endAt = started + opts.minutes * 60_000;
    while (Date.now() < endAt) {
      await sleep(Math.min(opts.sampleSeconds * 1000, endAt - Date.now()));
      const reports = await collect(workers);
      const window = latencyHistogram();
      for (const r of reports) {
        window.add(decodeHistogram(r.histogram));
        for (const k of Object.keys(counts) as Array<keyof typeof counts>) counts[k] += r[k];
      }
      total.add(window);
      const sample: EntranceSample = { atMinutes: (Date.now() - started) / 60_000, rssMiB: entrances.map((e) => rssMiB(e.proc.pid ?? 0) ?? Number.NaN), connected: reports.reduce((n, r) => n + r.connected, 0) };
      samples.push(sample);
      log(`soak: ${sample.atMinutes.toFixed(1)} min: ${sample.connected} connected, ${reports.reduce((n, r) => n + r.accepted, 0)} accepted, ` +
        `${reports.reduce((n, r) => n + r.dropped, 0)} dropped, p99 ${(window.getValueAtPercentile(99) / 1000).toFixed(1)} ms, entrance RSS ${sample.rssMiB.map((m) => m.toFixed(0)).join('/')} MiB`);
    }
    const redisUsed = await redis.usedBytes();
    for (const w of workers) send(w, { type: 'stop' });
    const perEntrance = entrances.map((_, i) => ids.filter((__, n) => n % entrances.length === i).length);
    const last = samples.at(-1);
    return {
      opts: { ...opts, boxes, clients }, ...(lowered ? { lowered } : {}), connected: open, failedToConnect, connectSeconds, ...counts,
      p50Ms: total.getValueAtPercentile(50) / 1000, p99Ms: total.getValueAtPercentile(99) / 1000, maxMs: total.maxValue / 1000,
      entranceRssKiBPerBox: entrances.map((_, i) => (((last?.rssMiB[i] ?? Number.NaN) - (baseline[i] ?? Number.NaN)) * 1024) / (perEntrance[i] ?? 1)),
      rssTrendMiBPerMinute: entrances.map((_, i) => rssTrend(samples, i)),
      redisBytesPerBox: (redisUsed - redisEmpty) / boxes,
      samples,
    };
  } finally {
    await cleanup.run();
  }
}

export async function main(args: string[]): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const opts = parseSoakArgs(args);
  const figures = await runSoak(opts, (line) => process.stderr.write(`${line}\n`));
  const report = formatSoakReport(figures, new Date());
  process.stdout.write(report);
  const dir = path.join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `soak-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}.md`);
  writeFileSync(file, report);
  process.stderr.write(`soak: written to ${path.relative(process.cwd(), file)}\n`);
  if (figures.dropped > 0 || figures.connected < figures.opts.boxes) process.exitCode = 1;
}
