/**
 * What the benchmarks that drive a real entrance process share: the server process itself
 * (killed at cleanup), its port coming up, boxes enrolled straight through the enrolment store, and a
 * challenge for a signed upgrade.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { enrolmentUrl, parseFleetToken } from '../../shared/src/enrolment/codec.js';
import { EnrolmentStore } from '../../entrance/src/enrolment/store.js';
import type { RedisServer } from '../../test/helpers/redis.js';
import { track } from '../../test/helpers/children.js';
import type { Cleanup } from './common.js';

export const START_TIMEOUT_MS = 30_000;
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Calls `open(i)` for i < n, at most `atOnce` at a time. */
export async function openAll<T>(n: number, open: (i: number) => Promise<T>, atOnce: number): Promise<T[]> {
  const out: T[] = new Array<T>(n);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(atOnce, n) }, async () => {
    for (let i = next++; i < n; i = next++) out[i] = await open(i);
  }));
  return out;
}

/** A challenge for a signed upgrade. `agent` false: a connection of its own that closes after it, so no idle HTTP connection stays on the entrance. */
export function challenge(wsUrl: string, agent: http.Agent | false = false): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(enrolmentUrl(wsUrl, 'challenge'), { agent }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        try {
          const nonce: unknown = Reflect.get(JSON.parse(body) as object, 'NONCE');
          if (typeof nonce === 'string') resolve(nonce);
          else reject(new Error(`no challenge: ${body.slice(0, 200)}`));
        } catch {
          reject(new Error(`no challenge (${res.statusCode ?? 0}): ${body.slice(0, 200)}`));
        }
      });
    }).on('error', reject);
  });
}

/** A process killed by a signal has no exit code but a signalCode. */
export function exited(p: ChildProcess): Promise<void> {
  return new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', () => r())));
}

export async function waitForPort(port: number, p: ChildProcess, output: () => string): Promise<void> {
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

/** Enrols every ID with one public key through the store itself (no HTTP): the set-up, not what is measured. */
export async function enrolBoxes(server: Pick<RedisServer, 'client'>, ids: readonly string[], publicKey: string, atOnce = 100): Promise<void> {
  const redis = server.client();
  try {
    const store = new EnrolmentStore(redis);
    const { token } = await store.createToken({ expiresInSeconds: 3600, maxUses: ids.length });
    const parsed = parseFleetToken(token);
    if (parsed === undefined) throw new Error('a fresh fleet token does not parse');
    await openAll(ids.length, async (i) => {
      const outcome = await store.enrol({ boxId: ids[i] ?? '', publicKey, ...parsed, ip: '127.0.0.1' });
      if (!outcome.ok) throw new Error(`could not enrol ${ids[i] ?? ''}: ${JSON.stringify(outcome)}`);
    }, atOnce);
  } finally {
    redis.disconnect();
  }
}

export interface ServerProcess {
  proc: ChildProcess;
  /** The last 4,000 characters it wrote, for the error when it dies. */
  output(): string;
}

/** Spawns `command` with `env` added; SIGKILLed at cleanup if still running. */
export function startServer(cleanup: Pick<Cleanup, 'teardown'>, command: string[], env: Record<string, string>): ServerProcess {
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
