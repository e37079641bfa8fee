/**
 * Roles run as real child processes of `bin/dandelion`, so a fault test can SIGKILL them and start them
 * again on the same run directory and config. Output is kept for the failure message.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { killNginxGroup, testAgentEnv } from '../helpers/agent.js';
import { atDeath, track } from '../helpers/children.js';
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

/** A counter or gauge without labels read from a role's /metrics. */
export async function metricValue(metricsPort: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.slice(name.length + 1));
}

export interface BoxProcess extends RoleProcess {
  boxId: string;
  baseDirectory: string;
  runDirectory: string;
  env: Record<string, string>;
}

/**
 * `dandelion agent` as a child process, with startAgent's config (test/helpers/agent.ts). Its nginx
 * runs in its own process group and outlives a SIGKILLed agent (as on a box): the teardown kills it.
 */
export function spawnBox(
  t: { teardown(fn: () => unknown): void },
  opts: { redisUrl: string; entranceUrls: string[]; boxId: string; dir: string; env?: Record<string, string> },
): BoxProcess {
  const baseDirectory = path.join(opts.dir, 'files');
  const runDirectory = path.join(opts.dir, 'run');
  const env = testAgentEnv({ ...opts, baseDirectory, runDirectory });
  t.teardown(() => killNginxGroup(runDirectory));
  const undo = atDeath(() => killNginxGroup(runDirectory));
  t.teardown(undo);
  const role = spawnRole(t, 'agent', env);
  return { ...role, boxId: opts.boxId, baseDirectory, runDirectory, env };
}

/** Every regular file under `dir` (relative paths), dot folders included. */
export function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

/** A temp folder removed at the teardown. */
export function tempDir(t: { teardown(fn: () => unknown): void }, prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `message`, with the role's output added when `ok` is false (so a failure shows why). */
export function explained(ok: unknown, message: string, ...roles: RoleProcess[]): string {
  return ok ? message : `${message}\n${roles.map((r) => r.output()).join('\n')}`;
}

/** A labelled counter from a role's /metrics: label value → sample value. */
export async function metricByLabel(metricsPort: number, name: string, label: string): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const values: Record<string, number> = {};
  const pattern = new RegExp(`^${name}\\{.*${label}="([^"]*)".*\\} (\\S+)$`);
  for (const line of text.split('\n')) {
    const m = pattern.exec(line);
    if (m) values[m[1] as string] = Number(m[2]);
  }
  return values;
}
