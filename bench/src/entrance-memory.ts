/**
 * entrance memory: how much the entrance's resident set (VmRSS) grows for each connected box, with N
 * boxes that each enrolled, opened a socket with a signed challenge and did one EXCHANGE, against a bare
 * `ws` server holding the same number of sockets that each sent the same message once. Both servers run
 * in their own process (the entrance as `dandelion entrance`, enrolment required); the clients are this
 * process's. Growth is RSS with the sockets open minus RSS before the first one, over N.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WebSocket } from 'ws';
import { AUTH_HEADERS, connectPayload, idHeaderFor, newBoxKey, publicKeyText, signPayload } from '../../shared/src/enrolment/codec.js';
import { startRedis } from '../../test/helpers/redis.js';
import { boxExchange } from '../../test/helpers/messages.js';
import { freePort } from '../../shared/src/listen.js';
import { challenge, enrolBoxes, exited, openAll, sleep, START_TIMEOUT_MS, startServer, waitForPort } from './entrance-process.js';
import { NODE_AGENT, ROOT, rssMiB } from './agent-process.js';
import type { Benchmark, Cleanup, Row } from './common.js';

const GOAL_RATIO = 2;
/** Sockets opening at once: enough to keep both sides busy, few enough not to look like a flood. */
const OPENING_AT_ONCE = 100;
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

interface Measured { before: number; after: number; perSocket: number }

/** Sockets opened (and kept) before the baseline: a server's first clients pay for its lazy start-up (code compiled, scripts loaded, young generation grown), which is not what a box costs. */
export const WARM_UP_SOCKETS = 50;

/**
 * Opens WARM_UP_SOCKETS sockets (open(0…)), then n more against the server of `pid`, each answered once;
 * RSS before and with the n open.
 */
async function measure(pid: number, n: number, settleMs: number, open: (i: number) => Promise<WebSocket>): Promise<Measured> {
  const warm = await openAll(WARM_UP_SOCKETS, open, OPENING_AT_ONCE);
  const before = await settledRss(pid, settleMs);
  const sockets = await openAll(n, (i) => open(WARM_UP_SOCKETS + i), OPENING_AT_ONCE);
  const after = await settledRss(pid, settleMs);
  for (const ws of [...warm, ...sockets]) ws.terminate();
  return { before, after, perSocket: (after - before) / n };
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
