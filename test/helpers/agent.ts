/** A box agent built in-process with its own managed nginx, its config read through the real loader. */
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { atDeath } from './children.js';
import os from 'node:os';
import path from 'node:path';
import { loadRoleConfig } from '../../shared/src/config/load.js';
import { createLogger, silentLogger } from '../../shared/src/log.js';
import { connectRedis } from '../../shared/src/redis.js';
import { createAgent } from '../../agent/src/app.js';
import type { Agent, AgentStatus } from '../../agent/src/app.js';
import type { ReadingsSource } from '../../agent/src/platform/readings.js';

export interface RunningAgent {
  agent: Agent;
  status: AgentStatus;
  boxId: string;
  baseDirectory: string;
  runDirectory: string;
  /** http://127.0.0.1:<nginx port> */
  httpBase: string;
  stop(): Promise<void>;
}

/**
 * A test box's config as DANDELION_* variables, for an agent in this process or a child process: loopback
 * only, every port chosen by the kernel, a fast heartbeat, no scheduled capacity test, a fixed bandwidth.
 * `redisClusterNodes` (RedisClusterServer.nodesEnv): the box's Redis is that cluster, and REDIS_URL is ignored.
 */
export function testAgentEnv(opts: { redisUrl: string; redisClusterNodes?: string; entranceUrls: string[]; boxId: string; baseDirectory: string; runDirectory: string; env?: Record<string, string> }): Record<string, string> {
  return {
    DANDELION_ID: opts.boxId,
    DANDELION_REDIS_URL: opts.redisUrl,
    ...(opts.redisClusterNodes !== undefined ? { DANDELION_REDIS_CLUSTER_NODES: opts.redisClusterNodes } : {}),
    DANDELION_ENTRANCE_URLS: JSON.stringify(opts.entranceUrls),
    DANDELION_BOX_SERVER_IP: '127.0.0.1',
    DANDELION_BOX_PORT: '0',
    DANDELION_BOX_HTTP_PORT: '0',
    DANDELION_BOX_HTTPS_PORT: '0',
    DANDELION_BASE_DIRECTORY: opts.baseDirectory,
    DANDELION_RUN_DIRECTORY: opts.runDirectory,
    DANDELION_BOX_PING_ENTRANCE_FREQ: '0.5',
    DANDELION_BANDWIDTH_TEST_CRON: '',
    DANDELION_BANDWIDTH_UP: '100',
    DANDELION_BANDWIDTH_DOWN: '500',
    DANDELION_DISK_RESERVE_MB: '1',
    // No metrics server unless the test asks for one: several run in one process.
    DANDELION_METRICS_PORT: '0',
    ...opts.env,
  };
}

export async function startAgent(
  t: { teardown(fn: () => unknown): void },
  opts: { redisUrl: string; redisClusterNodes?: string; entranceUrls: string[]; boxId?: string; runDirectory?: string; env?: Record<string, string>; readings?: ReadingsSource; minReloadIntervalMs?: number; now?: () => number },
): Promise<RunningAgent> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dandelion-box-'));
  const baseDirectory = path.join(dir, 'files');
  const runDirectory = opts.runDirectory ?? path.join(dir, 'run');
  const boxId = opts.boxId ?? `box-test${Math.random().toString(16).slice(2, 10)}`;
  const { config } = loadRoleConfig('agent', undefined, testAgentEnv({ ...opts, boxId, baseDirectory, runDirectory }));
  const log = process.env.DANDELION_TEST_LOG ? createLogger({ level: 'debug', role: 'agent' }) : silentLogger();
  const redis = await connectRedis(config, log);
  const agent = createAgent({ config, redis, boxId, log, ...(opts.readings ? { readings: opts.readings } : {}), ...(opts.minReloadIntervalMs !== undefined ? { minReloadIntervalMs: opts.minReloadIntervalMs } : {}), ...(opts.now ? { now: opts.now } : {}) });
  // The agent's nginx is its child; if tap kills this process, stop that nginx too.
  const undo = atDeath(() => killNginxGroup(runDirectory));
  const status = await agent.start();
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    undo();
    await agent.stop();
    redis.disconnect();
  };
  t.teardown(stop);
  return { agent, status, boxId, baseDirectory, runDirectory, httpBase: `http://127.0.0.1:${status.httpPort}`, stop };
}

/** Poll `check` until it returns something truthy (or give up after `timeoutMs`). */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 15_000, stepMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await check();
  while (!last && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, stepMs));
    last = await check();
  }
  return last;
}

/**
 * SIGKILL the process group of the nginx whose pid file is in `runDirectory` (master and workers; a worker
 * outlives a killed master otherwise). A missing or empty pid file does nothing: kill(-0) would be this
 * test's own process group.
 */
export function killNginxGroup(runDirectory: string): void {
  let pid: number;
  try {
    pid = Number(readFileSync(path.join(runDirectory, 'nginx.pid'), 'utf8').trim());
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 1) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/**
 * The pids of the nginx masters running with `-p runDirectory` (an agent's managed nginx), found in /proc
 * rather than through the pid file, which a second master would have overwritten.
 */
export function nginxMastersOf(runDirectory: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    let title: string;
    try {
      title = readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
    } catch {
      continue; // gone meanwhile
    }
    if (title.startsWith('nginx: master process ') && ` ${title} `.includes(` -p ${runDirectory} `)) pids.push(Number(name));
  }
  return pids;
}

/** SIGKILL every nginx master of `runDirectory` with its process group: a teardown's net under killNginxGroup. */
export function killNginxMastersOf(runDirectory: string): void {
  for (const pid of nginxMastersOf(runDirectory)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** The port of the first `listen` line of the managed nginx.conf in `runDirectory` (its HTTP port). */
export function nginxPortOf(runDirectory: string): number {
  const m = /listen\s+[^;\s]*:([0-9]+)\s*;/.exec(readFileSync(`${runDirectory}/nginx.conf`, 'utf8'));
  if (!m) throw new Error(`no listen line in ${runDirectory}/nginx.conf`);
  return Number(m[1]);
}
