/**
 * A real Redis Cluster for one test file: six redis-server nodes (three masters, a replica each) on free
 * loopback ports, each in its own temp folder with nothing saved, joined by `redis-cli --cluster create`.
 * Everything is stopped and removed at teardown. Start one per test file and share it between subtests:
 * it takes a few seconds.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { canBind, freePort } from '../../shared/src/listen.js';
import { track } from './children.js';

const run = promisify(execFile);
const NODES = 6;
/** A node's cluster bus listens on its port + 10000, so both must be free. */
const BUS_OFFSET = 10_000;

export interface ClusterNode {
  port: number;
  /** `127.0.0.1:<port>`, as REDIS_CLUSTER_NODES lists it. */
  address: string;
  proc: ChildProcess;
}

export interface RedisClusterServer {
  nodes: ClusterNode[];
  /** REDIS_CLUSTER_NODES for a role's env (comma list). */
  nodesEnv: string;
  /** A Cluster client for the test's own reads; disconnected at teardown. */
  client(): Redis;
  /** The node serving `key`'s slot as master now. */
  masterOf(key: string): Promise<ClusterNode>;
  /** SIGKILL the master of `key`'s slot (its replica takes over after cluster-node-timeout); returns it. */
  killMasterOf(key: string): Promise<ClusterNode>;
  stop(): Promise<void>;
}

export async function startRedisCluster(t: { teardown(fn: () => unknown): void }): Promise<RedisClusterServer> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'drc-'));
  const nodes: ClusterNode[] = [];
  const clients: Array<{ disconnect(): void }> = [];
  const stop = async (): Promise<void> => {
    for (const c of clients) c.disconnect();
    await Promise.all(nodes.map(({ proc }) => stopProcess(proc)));
    rmSync(root, { recursive: true, force: true });
  };
  t.teardown(stop);
  for (const port of await freeClusterPorts(NODES)) nodes.push({ port, address: `127.0.0.1:${port}`, proc: startNode(root, port) });
  await Promise.all(nodes.map((n) => waitForPing(n)));
  await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => n.address), '--cluster-replicas', '1', '--cluster-yes']);
  await Promise.all(nodes.map((n) => waitForClusterOk(n.port)));
  // A replica that has not synced yet could not take over from a master a test kills.
  await Promise.all(nodes.map((n) => waitForReplicaLink(n.port)));
  const client = (): Redis => {
    const c = new Cluster(nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), { redisOptions: { maxRetriesPerRequest: 1 } });
    clients.push(c);
    // The same commands as one Redis, routed by slot (see shared/src/redis.ts).
    return c as unknown as Redis;
  };
  const masterOf = async (key: string): Promise<ClusterNode> => {
    // A node killed by a signal has a signalCode and no exitCode.
    const alive = nodes.find((n) => n.proc.exitCode === null && n.proc.signalCode === null) ?? nodes[0]!;
    const probe = new Redis({ host: '127.0.0.1', port: alive.port, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
    probe.on('error', () => {
      /* intentional: the command's own error says it */
    });
    try {
      const slot = Number(await probe.call('CLUSTER', 'KEYSLOT', key));
      const ranges = await probe.call('CLUSTER', 'SLOTS');
      for (const range of Array.isArray(ranges) ? ranges : []) {
        if (!Array.isArray(range) || Number(range[0]) > slot || Number(range[1]) < slot) continue;
        const master: unknown = range[2];
        const port = Array.isArray(master) ? Number(master[1]) : NaN;
        const node = nodes.find((n) => n.port === port);
        if (node) return node;
      }
      throw new Error(`no master serves slot ${slot}`);
    } finally {
      probe.disconnect();
    }
  };
  return {
    nodes,
    nodesEnv: nodes.map((n) => n.address).join(','),
    client,
    masterOf,
    async killMasterOf(key) {
      const node = await masterOf(key);
      node.proc.kill('SIGKILL');
      return node;
    },
    stop,
  };
}

/**
 * One cluster-enabled node holding half the slots: a cluster not formed yet, as a node is between
 * `redis-cli --cluster create` giving it its slots and the other nodes agreeing (CLUSTER SLOTS lists
 * slots, CLUSTER INFO says cluster_state:fail).
 */
export interface UnformedClusterNode {
  /** `127.0.0.1:<port>`, as REDIS_CLUSTER_NODES lists it. */
  address: string;
  /** Give the node the other half: the cluster becomes ok. */
  takeAllSlots(): Promise<void>;
  /** How many clients are connected to the node (CLIENT LIST, less the one asking). */
  clients(): Promise<number>;
}

export async function startUnformedClusterNode(t: { teardown(fn: () => unknown): void }): Promise<UnformedClusterNode> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'drc-'));
  const [port = 0] = await freeClusterPorts(1);
  const node: ClusterNode = { port, address: `127.0.0.1:${port}`, proc: startNode(root, port, ['--cluster-announce-ip', '127.0.0.1']) };
  t.teardown(async () => {
    await stopProcess(node.proc);
    rmSync(root, { recursive: true, force: true });
  });
  await waitForPing(node);
  const cli = async (...args: string[]): Promise<string> => (await run('redis-cli', ['-p', String(port), ...args])).stdout;
  await cli('CLUSTER', 'ADDSLOTSRANGE', '0', '8191');
  return {
    address: node.address,
    async takeAllSlots() {
      await cli('CLUSTER', 'ADDSLOTSRANGE', '8192', '16383');
      await waitForClusterOk(port);
    },
    clients: async () => (await cli('CLIENT', 'LIST')).trim().split('\n').length - 1,
  };
}

/** One line of `CLUSTER NODES`: the node's port, flags (master, slave, myself, fail…), master's ID ('-' for a master) and slot ranges held. */
export interface ClusterNodeView { port: number; flags: string[]; master: string; slotRanges: number }

/** `CLUSTER NODES` as the node on `port` sees the cluster, by node ID. */
export async function clusterNodes(port: number): Promise<Map<string, ClusterNodeView>> {
  const c = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, retryStrategy: () => null });
  c.on('error', () => {
    /* intentional: the command's own error says it */
  });
  try {
    const out = new Map<string, ClusterNodeView>();
    for (const line of String(await c.call('CLUSTER', 'NODES')).trim().split('\n')) {
      const [id = '', address = '', flags = '', master = '', , , , , ...slots] = line.split(' ');
      out.set(id, { port: Number(/:(\d+)@/.exec(address)?.[1]), flags: flags.split(','), master, slotRanges: slots.length });
    }
    return out;
  } finally {
    c.disconnect();
  }
}

/** `extraArgs`: a node alone must be told its address (`--cluster-announce-ip`): no other node tells it, and CLUSTER SLOTS names it "". */
function startNode(root: string, port: number, extraArgs: string[] = []): ChildProcess {
  const dir = path.join(root, String(port));
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no',
    '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000',
    // A replica takes over however long its link was down: a test kills masters of a cluster just made.
    '--cluster-replica-validity-factor', '0',
    ...extraArgs,
  ];
  mkdirSync(dir, { recursive: true });
  const proc = spawn('redis-server', args, { stdio: 'ignore' });
  track(proc);
  return proc;
}

async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGTERM');
  await exited;
}

/** `count` loopback ports that are free, each with its bus port (port + 10000) free too. */
async function freeClusterPorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = await freePort();
    if (port + BUS_OFFSET > 65535 || ports.includes(port)) continue;
    if (await canBind('127.0.0.1', port + BUS_OFFSET)) ports.push(port);
  }
  return ports;
}

async function waitForPing(node: ClusterNode): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (node.proc.exitCode !== null || node.proc.signalCode !== null) throw new Error(`redis-server on port ${node.port} exited`);
    const c = new Redis({ host: '127.0.0.1', port: node.port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on('error', () => {
      /* intentional: not up yet */
    });
    try {
      await c.connect();
      await c.ping();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 25));
    } finally {
      c.disconnect();
    }
  }
  throw new Error(`redis-server on port ${node.port} did not answer`);
}

async function waitForClusterOk(port: number): Promise<void> {
  const c = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
  try {
    for (let i = 0; i < 400; i++) {
      const info = String(await c.call('CLUSTER', 'INFO'));
      if (info.includes('cluster_state:ok')) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`cluster node ${port} never reached cluster_state:ok`);
  } finally {
    c.disconnect();
  }
}

async function waitForReplicaLink(port: number): Promise<void> {
  const c = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
  try {
    for (let i = 0; i < 400; i++) {
      const info = String(await c.info('replication'));
      if (!info.includes('role:slave') || info.includes('master_link_status:up')) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`cluster replica ${port} never linked to its master`);
  } finally {
    c.disconnect();
  }
}
