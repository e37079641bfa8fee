/**
 * agent memory: resident set size (VmRSS) of the agent process idle, while it ingests 2 MB segments and
 * while it tails a large access log, for the Node build and for the x64 standalone binary, against a bare
 * `node -e` process idling (the Node running this benchmark, and the stripped base Node of the binary).
 * RSS under qemu-user is the emulator's, not the program's, so only the native x64 binary is measured.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import type { Redis } from 'ioredis';
import path from 'node:path';
import { boxKeys } from '../../shared/src/redis-keys.js';
import { encodeFrame } from '../../shared/src/protocol/index.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { ORIGINAL_PUBLISHERS } from '../../test/helpers/messages.js';
import { startRedis } from '../../test/helpers/redis.js';
import { connectPeer } from '../../test/helpers/ws-client.js';
import { track } from '../../test/helpers/children.js';
import { NODE_AGENT, ROOT, rssMiB, startAgentProcess } from './agent-process.js';
import type { Benchmark, Cleanup, Row } from './common.js';
import { writeLog } from './log-tail.js';
import { baseOf, binaryOf, targets } from './binary.js';

/** Idle: at most this many times a bare `node -e` idling (the issue's goal); busy: a fixed ceiling. */
const IDLE_GOAL_RATIO = 1.25;
const BUSY_GOAL_MIB = 64;
const SAMPLE_MS = 50;
const FILE_BYTES = 2 * 1024 * 1024;

/** Samples a process's RSS every 50 ms while `during` runs; the peak, in MiB. */
async function peakRss(pid: number, during: () => Promise<void>): Promise<number> {
  let peak = rssMiB(pid) ?? 0;
  const timer = setInterval(() => (peak = Math.max(peak, rssMiB(pid) ?? 0)), SAMPLE_MS);
  try {
    await during();
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, rssMiB(pid) ?? 0);
}

/**
 * The malloc settings the box's systemd unit gives the binary (its Environment= lines), as `env`
 * arguments: the binary is measured as a box runs it (the Node build gets them from bin/dandelion).
 */
function unitMallocEnv(): string[] {
  const unit = readFileSync(path.join(ROOT, 'firmware-image', 'dandelion-agent.service'), 'utf8');
  return unit.split('\n').filter((l) => l.startsWith('Environment=MALLOC_')).flatMap((l) => l.slice('Environment='.length).trim().split(/\s+/));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The reference: a bare Node process that only keeps itself alive. */
async function bareNodeRss(command: string, cleanup: Cleanup, settleMs: number): Promise<number> {
  const p = spawn(command, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  track(p);
  cleanup.teardown(() => p.kill('SIGKILL'));
  await sleep(settleMs);
  const rss = await peakRss(p.pid as number, () => sleep(settleMs));
  p.kill('SIGKILL');
  return rss;
}

interface Phases {
  idle: number;
  ingest: number;
  tail: number;
  note: string;
}

async function measureAgent(command: string[], label: string, smoke: boolean, cleanup: Cleanup, redisUrl: string, entranceUrl: string, redis: Redis): Promise<Phases> {
  const boxId = `box-benchmem${label}`;
  const agent = await startAgentProcess(cleanup, { command, redisUrl, entranceUrl, boxId, pingSeconds: 1 });
  // Idle: after a few heartbeats (start-up garbage collected or not, as a box would be).
  const settleMs = smoke ? 1500 : 5000;
  await sleep(settleMs);
  const idle = await peakRss(agent.pid, () => sleep(smoke ? 500 : 3000));

  const files = smoke ? 5 : 100;
  const content = randomBytes(FILE_BYTES);
  const publisher = await connectPeer(agent.connectWs);
  cleanup.teardown(() => publisher.close());
  const hello = await publisher.ask({ ID: 'publisher-benchmem', IP: '127.0.0.1', TYPE: 'PUBLISHER', COMMAND: 'PUBLISH' });
  if (hello.MESSAGE !== 'ACCEPTED') throw new Error(`PUBLISH refused: ${JSON.stringify(hello)}`);
  const ingest = await peakRss(agent.pid, async () => {
    for (let i = 0; i < files; i++) {
      publisher.sendRaw(encodeFrame({ FILE_PATH: `/live/seg-${i}.ts`, TTL: 600 }, content), true);
      const ack = await publisher.next();
      if (ack.MESSAGE !== 'ACCEPTED') throw new Error(`file ${i} not accepted: ${JSON.stringify(ack)}`);
    }
  });
  await publisher.close();

  // Catching up: a backlog of nginx log lines appended at once to the log the agent follows; wait until all
  // are stored. A million lines (about 220 MB) shows the agent's memory does not grow with the backlog.
  const lines = smoke ? 5_000 : 1_000_000;
  const logPath = path.join(agent.runDirectory, 'access.log');
  await writeLog(logPath, lines, 'a');
  const size = statSync(logPath).size;
  const deadline = Date.now() + (smoke ? 30_000 : 300_000);
  const tail = await peakRss(agent.pid, async () => {
    while (Number((await redis.hget(boxKeys(boxId).trafficOffset, 'offset')) ?? 0) < size) {
      if (Date.now() > deadline) throw new Error(`${label}: the tail did not reach the end of the log in time`);
      await sleep(SAMPLE_MS);
    }
  });
  const code = await agent.stop();
  if (code !== 0) throw new Error(`${label}: the agent exited ${code} on SIGTERM: ${agent.logTail().trim().split('\n').slice(-3).join(' | ')}`);
  return { idle, ingest, tail, note: `${files} × 2 MB files, ${lines} log lines` };
}

export const agentMemory: Benchmark = {
  name: 'agent-memory',
  async run({ smoke }, cleanup): Promise<Row[]> {
    const redis = await startRedis(cleanup);
    // Its publishers send PUBLISH without a grant, as the original's do (grants: agent/test/trust/).
    const entrance = await startEntrance(cleanup, { redisUrl: redis.url, env: ORIGINAL_PUBLISHERS });
    cleanup.teardown(() => rmSync(entrance.runDirectory, { recursive: true, force: true }));
    const client = redis.client();
    const rows: Row[] = [];
    const x64 = targets().find((t) => t.name === 'linux-x64');
    const X64_BINARY = x64 ? binaryOf(x64) : path.join(ROOT, 'dist', 'dandelion-agent-linux-x64');
    const X64_BASE = x64 ? baseOf(x64) : path.join(ROOT, 'build', 'binaries', 'base', 'linux-x64', 'node');
    const agents: Array<{ label: string; command: string[]; base: string; why?: string }> = [
      { label: 'node', command: NODE_AGENT, base: process.execPath },
      {
        label: 'x64-binary', command: ['env', ...unitMallocEnv(), X64_BINARY], base: X64_BASE,
        ...(existsSync(X64_BINARY) && existsSync(X64_BASE) ? {} : { why: `${path.relative(ROOT, X64_BINARY)} or its base ${path.relative(ROOT, X64_BASE)} is missing: run 'make binaries'` }),
      },
    ];
    for (const target of agents) {
      const name = target.label === 'node' ? 'Node build' : 'x64 binary';
      const metrics = [
        { metric: `${name} RSS idle`, key: 'idle' as const },
        { metric: `${name} RSS ingesting`, key: 'ingest' as const },
        { metric: `${name} RSS tailing`, key: 'tail' as const },
      ];
      let measured: Phases | undefined;
      let why = target.why;
      if (!why) {
        try {
          measured = await measureAgent(target.command, target.label, smoke, cleanup, redis.url, entrance.url, client);
        } catch (err) {
          why = `could not run: ${err instanceof Error ? err.message : String(err)}`;
        }
      }
      const reference = measured ? await bareNodeRss(target.base, cleanup, smoke ? 500 : 2000) : undefined;
      for (const m of metrics) {
        const project = measured?.[m.key];
        const ratio = project !== undefined && reference ? project / reference : undefined;
        const idle = m.key === 'idle';
        rows.push({
          bench: 'agent-memory', metric: m.metric, unit: 'MiB', project, reference, ratio,
          goal: idle ? `ratio ≤ ${IDLE_GOAL_RATIO}` : `≤ ${BUSY_GOAL_MIB} MiB`,
          pass: idle ? ratio !== undefined && ratio <= IDLE_GOAL_RATIO : project !== undefined && project <= BUSY_GOAL_MIB,
          note: why ?? `peak VmRSS${idle && reference ? ` (goal ${(IDLE_GOAL_RATIO * reference).toFixed(1)} MiB)` : ''}; reference: bare \`${target.label === 'node' ? 'node' : 'base node'} -e\` idle; ${measured?.note ?? ''}`,
        });
      }
    }
    return rows;
  },
};
