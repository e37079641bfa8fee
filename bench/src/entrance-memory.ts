/**
 * entrance memory: how much the entrance's resident set (VmRSS) grows for each connected box, with N
 * boxes that each enrolled, opened a socket with a signed challenge and did one EXCHANGE, against a bare
 * `ws` server holding the same number of sockets that each sent the same message once. Both servers run
 * in their own process (the entrance as `dandelion entrance`, enrolment required); the clients are this
 * process's. Growth is RSS with the sockets open minus RSS before the first one, over N.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { WebSocket } from 'ws';
import { AUTH_HEADERS, connectPayload, enrolmentUrl, idHeaderFor, newBoxKey, parseFleetToken, publicKeyText, signPayload } from '../../shared/src/enrolment/codec.js';
import { EnrolmentStore } from '../../entrance/src/enrolment/store.js';
import { startRedis } from '../../test/helpers/redis.js';
import type { RedisServer } from '../../test/helpers/redis.js';
import { boxExchange } from '../../test/helpers/messages.js';
import { track } from '../../test/helpers/children.js';
import { NODE_AGENT, ROOT, rssMiB } from './agent-process.js';
import type { Benchmark, Cleanup, Row } from './common.js';

const GOAL_RATIO = 2;
/** Sockets opening at once: enough to keep both sides busy, few enough not to look like a flood. */
const OPENING_AT_ONCE = 100;
const START_TIMEOUT_MS = 30_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((r) => server.close(r));
  return typeof address === 'object' && address !== null ? address.port : 0;
}

/** The median of a few RSS samples 100 ms apart, in bytes: one sample can land mid-collection. */
async function settledRss(pid: number, settleMs: number): Promise<number> {
  await sleep(settleMs);
  const samples: number[] = [];
  for (let i = 0; i < 9; i++) {
    samples.push((rssMiB(pid) ?? Number.NaN) * 1024 * 1024);
    await sleep(100);
  }
  return samples.sort((a, b) => a - b)[4] ?? Number.NaN;
}

/** Calls `open(i)` for i < n, at most OPENING_AT_ONCE at a time. */
async function openAll<T>(n: number, open: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(n);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(OPENING_AT_ONCE, n) }, async () => {
    for (let i = next++; i < n; i = next++) out[i] = await open(i);
  }));
  return out;
}

/** One socket: open it, send `message` once, resolve with the socket once the reply is in. */
function exchangeOnce(url: string, message: string, headers: Record<string, string>, accept: (reply: string) => boolean): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false });
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused with ${res.statusCode ?? 0}`)));
    ws.once('open', () => ws.send(message));
    ws.once('message', (data) => {
      const text = String(data);
      if (accept(text)) resolve(ws);
      else reject(new Error(`unexpected reply: ${text.slice(0, 200)}`));
    });
  });
}

/** A challenge over a connection of its own that closes after it, so no idle HTTP connection stays on the entrance. */
function challenge(wsUrl: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(enrolmentUrl(wsUrl, 'challenge'), { agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        const nonce: unknown = Reflect.get(JSON.parse(body) as object, 'NONCE');
        if (typeof nonce === 'string') resolve(nonce);
        else reject(new Error(`no challenge: ${body.slice(0, 200)}`));
      });
    }).on('error', reject);
  });
}

/** A process killed by a signal has no exit code but a signalCode. */
function exited(p: ChildProcess): Promise<void> {
  return new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', () => r())));
}

async function waitForPort(port: number, p: ChildProcess, output: () => string): Promise<void> {
  const until = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < until) {
    if (p.exitCode !== null) throw new Error(`the server exited with ${p.exitCode}: ${output().slice(-500)}`);
    const open = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (open) return;
    await sleep(100);
  }
  throw new Error(`the server did not listen on ${port} within ${START_TIMEOUT_MS / 1000} s`);
}

interface Measured { before: number; after: number; perSocket: number }

/** Sockets opened (and kept) before the baseline: a server's first clients pay for its lazy start-up (code compiled, scripts loaded, young generation grown), which is not what a box costs. */
export const WARM_UP_SOCKETS = 50;

/**
 * Opens WARM_UP_SOCKETS sockets (open(0…)), then n more against the server of `pid`, each answered once;
 * RSS before and with the n open.
 */
async function measure(pid: number, n: number, settleMs: number, open: (i: number) => Promise<WebSocket>): Promise<Measured> {
  const warm = await openAll(WARM_UP_SOCKETS, open);
  const before = await settledRss(pid, settleMs);
  const sockets = await openAll(n, (i) => open(WARM_UP_SOCKETS + i));
  const after = await settledRss(pid, settleMs);
  for (const ws of [...warm, ...sockets]) ws.terminate();
  return { before, after, perSocket: (after - before) / n };
}

async function enrolBoxes(server: RedisServer, ids: string[], publicKey: string): Promise<void> {
  const redis = server.client();
  try {
    const store = new EnrolmentStore(redis);
    const { token } = await store.createToken({ expiresInSeconds: 3600, maxUses: ids.length });
    const parsed = parseFleetToken(token);
    if (parsed === undefined) throw new Error('a fresh fleet token does not parse');
    await openAll(ids.length, async (i) => {
      const outcome = await store.enrol({ boxId: ids[i] ?? '', publicKey, ...parsed, ip: '127.0.0.1' });
      if (!outcome.ok) throw new Error(`could not enrol ${ids[i] ?? ''}: ${JSON.stringify(outcome)}`);
    });
  } finally {
    redis.disconnect();
  }
}

function startServer(cleanup: Cleanup, command: string[], env: Record<string, string>): { proc: ChildProcess; output: () => string } {
  const [bin = process.execPath, ...args] = command;
  const proc = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  track(proc);
  let output = '';
  const keep = (d: Buffer): void => {
    output = (output + d.toString()).slice(-4000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  cleanup.teardown(async () => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
    await exited(proc);
  });
  return { proc, output: () => output };
}

async function measureEntrance(cleanup: Cleanup, ids: string[], settleMs: number): Promise<Measured> {
  const redis = await startRedis(cleanup);
  const key = newBoxKey();
  await enrolBoxes(redis, ids, publicKeyText(key));
  const port = await freePort();
  const runDirectory = mkdtempSync(path.join(os.tmpdir(), 'dandelion-bench-entrance-'));
  cleanup.teardown(() => rmSync(runDirectory, { recursive: true, force: true }));
  // Every simulated box connects from 127.0.0.1: the per-address limits are raised to fit them all.
  const limit = String(2 * ids.length + 16);
  const { proc, output } = startServer(cleanup, [...NODE_AGENT, 'entrance'], {
    DANDELION_ENTRANCE_IP: '127.0.0.1', DANDELION_ENTRANCE_PORT: String(port), DANDELION_REDIS_URL: redis.url, DANDELION_RUN_DIRECTORY: runDirectory,
    DANDELION_REQUIRE_ENROLMENT: 'true', DANDELION_MAX_SOCKETS_PER_IP: limit, DANDELION_MAX_HANDSHAKES_PER_SECOND_PER_IP: limit, DANDELION_LOG_LEVEL: 'warn',
  });
  await waitForPort(port, proc, output);
  const wsUrl = `ws://127.0.0.1:${port}/dandelion/ws/`;
  const result = await measure(proc.pid ?? 0, ids.length - WARM_UP_SOCKETS, settleMs, async (i) => {
    const id = ids[i] ?? '';
    const nonce = await challenge(wsUrl);
    const headers = { [idHeaderFor(id)]: id, [AUTH_HEADERS.nonce]: nonce, [AUTH_HEADERS.signature]: signPayload(key, connectPayload(id, nonce)) };
    return exchangeOnce(wsUrl, JSON.stringify(boxExchange(id)), headers, (reply) => reply.includes('"MESSAGE":"ACCEPTED"'));
  });
  proc.kill('SIGTERM');
  await exited(proc);
  return result;
}

async function measureEcho(cleanup: Cleanup, ids: string[], settleMs: number): Promise<Measured> {
  const { proc, output } = startServer(cleanup, [process.execPath, path.join(ROOT, 'build', 'bench', 'src', 'entrance-memory-echo.js')], {});
  const until = Date.now() + START_TIMEOUT_MS;
  while (!/^\d+\n/.test(output()) && Date.now() < until && proc.exitCode === null) await sleep(50);
  const port = Number(/^(\d+)\n/.exec(output())?.[1] ?? 0);
  if (port === 0) throw new Error(`the ws reference did not start: ${output().slice(-500)}`);
  const url = `ws://127.0.0.1:${port}/`;
  const messages = ids.map((id) => JSON.stringify(boxExchange(id)));
  const result = await measure(proc.pid ?? 0, ids.length - WARM_UP_SOCKETS, settleMs, (i) => exchangeOnce(url, messages[i] ?? '', {}, (reply) => reply === messages[i]));
  proc.kill('SIGKILL');
  await exited(proc);
  return result;
}

const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);

export const entranceMemory: Benchmark = {
  name: 'entrance-memory',
  async run({ smoke }, cleanup): Promise<Row[]> {
    const boxes = smoke ? 200 : 10_000;
    const settleMs = smoke ? 500 : 3000;
    const ids = Array.from({ length: WARM_UP_SOCKETS + boxes }, (_, i) => `box-benchmem${String(i).padStart(5, '0')}`);
    const project = await measureEntrance(cleanup, ids, settleMs);
    const reference = await measureEcho(cleanup, ids, settleMs);
    const ratio = project.perSocket / reference.perSocket;
    const note = `${boxes} sockets; entrance RSS ${mib(project.before)} → ${mib(project.after)} MiB (enrolment required, each box signed in and did one EXCHANGE); ` +
      `bare ws server ${mib(reference.before)} → ${mib(reference.after)} MiB (each socket sent the same message once)`;
    return [{
      bench: 'entrance-memory', metric: `RSS growth per connected box, ${boxes} boxes`, unit: 'KiB', project: project.perSocket / 1024, reference: reference.perSocket / 1024,
      ratio: Number.isFinite(ratio) && reference.perSocket > 0 ? ratio : undefined, goal: `ratio ≤ ${GOAL_RATIO}`,
      pass: Number.isFinite(ratio) && reference.perSocket > 0 && ratio <= GOAL_RATIO, note,
    }];
  },
};
