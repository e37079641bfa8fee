/**
 * A real redis-server that keeps its data as an operator's would (append-only file, fsync on every write),
 * on a unix socket in its own folder, so a test can kill it with a signal and start it again on the same
 * socket and data: what was acknowledged before the kill must be there after.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { track } from './children.js';

export interface PersistentRedis {
  /** REDIS_URL for a role's config; the same after a restart. */
  url: string;
  client(): Redis;
  /** Send `signal` to the server and wait until it has exited. */
  kill(signal: NodeJS.Signals): Promise<void>;
  /** Start it again on the same socket and data folder; resolves once it answers PING. */
  start(): Promise<void>;
}

export async function startPersistentRedis(t: { teardown(fn: () => unknown): void }): Promise<PersistentRedis> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'drp-'));
  const socket = path.join(dir, 'redis.sock');
  let proc: ChildProcess | undefined;
  const clients: Redis[] = [];

  async function start(): Promise<void> {
    const child = spawn('redis-server', ['--port', '0', '--unixsocket', socket, '--unixsocketperm', '700', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir], { stdio: 'ignore' });
    track(child);
    proc = child;
    const probe = new Redis({ path: socket, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {
      /* intentional: not up yet */
    });
    try {
      for (let i = 0; i < 200; i++) {
        if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
        if (await probe.connect().then(() => probe.ping()).then(() => true, () => false)) return;
        probe.disconnect();
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error('redis-server did not answer PING within 5 s');
    } finally {
      probe.disconnect();
    }
  }

  async function kill(signal: NodeJS.Signals): Promise<void> {
    const child = proc;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await exited;
  }

  await start();
  t.teardown(async () => {
    for (const c of clients) c.disconnect();
    await kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    url: `unix://${socket}`,
    client() {
      const c = new Redis({ path: socket, maxRetriesPerRequest: 3 });
      c.on('error', () => {
        /* intentional: the test restarts the server under it; commands wait for the reconnect */
      });
      clients.push(c);
      return c;
    },
    kill,
    start,
  };
}
