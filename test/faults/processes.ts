/**
 * Roles run as real child processes of `bin/dandelion`, so a fault test can SIGKILL them and start them
 * again on the same run directory and config. Output is kept for the failure message.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { track } from '../helpers/children.js';
import { BIN } from '../helpers/cli.js';

export interface RoleProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit signal or code once the process has ended. */
  exited: Promise<string>;
  /** SIGKILL, and wait for the process to be gone. */
  kill(): Promise<string>;
}

export function spawnRole(t: { teardown(fn: () => unknown): void }, role: string, env: Record<string, string>): RoleProcess {
  const child = spawn(BIN, [role], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let out = '';
  const keep = (d: Buffer): void => {
    out = (out + d.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? String(code))));
  const kill = async (): Promise<string> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    return exited;
  };
  t.teardown(kill);
  return { child, output: () => out, exited, kill };
}

/** A loopback TCP port free at the time of asking (for a role that must listen on a known port). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A counter or gauge without labels read from a role's /metrics. */
export async function metricValue(metricsPort: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.slice(name.length + 1));
}
