/**
 * A real redis-server (the Debian package) for one test: on a unix socket in the test's own folder,
 * nothing saved to disk, stopped when the test ends.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { track } from './children.js';
import { scanKeys } from '../../shared/src/redis-scan.js';

export interface RedisServer {
  /** REDIS_URL for a role's config. */
  url: string;
  socket: string;
  client(): Redis;
  stop(): Promise<void>;
}

export async function startRedis(t: { teardown(fn: () => unknown): void }): Promise<RedisServer> {
  // Short path: unix socket paths are limited to 107 bytes.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dr-'));
  const socket = path.join(dir, 'redis.sock');
  const proc = spawn('redis-server', ['--port', '0', '--unixsocket', socket, '--unixsocketperm', '700', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(proc);
  let output = '';
  proc.stdout.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const clients: Redis[] = [];
  const ready = await waitForPing(socket, exited);
  if (!ready) throw new Error(`redis-server did not start:\n${output}`);
  const server: RedisServer = {
    url: `unix://${socket}`,
    socket,
    client() {
      const c = new Redis({ path: socket, maxRetriesPerRequest: 1 });
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients) c.disconnect();
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  t.teardown(() => server.stop());
  return server;
}

async function waitForPing(socket: string, exited: Promise<void>): Promise<boolean> {
  let dead = false;
  void exited.then(() => (dead = true));
  for (let i = 0; i < 200 && !dead; i++) {
    const c = new Redis({ path: socket, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on('error', () => {
      /* intentional: not up yet */
    });
    try {
      await c.connect();
      await c.ping();
      c.disconnect();
      return true;
    } catch {
      c.disconnect();
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  return false;
}

/** Every key matching `pattern` (SCAN, so a large database is read in pieces, on every master of a cluster; a key is listed once). */
export async function keysLike(r: Redis, pattern: string): Promise<string[]> {
  const found = new Set<string>();
  for await (const batch of scanKeys(r, pattern, 1000)) for (const k of batch) found.add(k);
  return [...found];
}
