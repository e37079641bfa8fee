/**
 * Dandelion's own roles as real processes in the lab's namespaces: `bin/dandelion entrance|agent|publisher`
 * started with `ip netns exec`, configured through DANDELION_<KEY> variables as an operator would, their
 * output kept in build/test-output/lab-logs/<name>.log (the lab's folder goes with the run; these stay for
 * reading a failure) and quoted when one fails to come up.
 */
import type { ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lab, Ns } from './lab.js';

/** bin/dandelion of this checkout (this file runs from build/test/lab/). */
export const DANDELION = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/dandelion');

export interface RoleProcess {
  name: string;
  child: ChildProcess;
  /** The last output lines (for failure messages). */
  tail(): string;
  /** Resolves with the first output line (from the start) matching `pattern`, or undefined after `timeoutMs`. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<string | undefined>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

export function startRole(lab: Lab, ns: Ns, name: string, role: 'entrance' | 'agent' | 'publisher', env: Record<string, string>): RoleProcess {
  const child = lab.spawn(ns, [DANDELION, role], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logDir = path.resolve('build', 'test-output', 'lab-logs');
  mkdirSync(logDir, { recursive: true });
  const log = createWriteStream(path.join(logDir, `${name}.log`));
  let recent: string[] = [];
  // Every line, for waitForLine: a role logs a few hundred lines in a lab test.
  const all: string[] = [];
  let partial = '';
  const keep = (d: Buffer): void => {
    log.write(d);
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    all.push(...lines.filter(Boolean));
    recent = [...recent, ...lines.filter(Boolean)].slice(-40);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    name,
    child,
    tail: () => recent.join('\n'),
    waitForLine: (pattern, timeoutMs) => until(() => all.find((line) => pattern.test(line)), timeoutMs),
    async stop(graceMs = 6_000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      log.end();
    },
  };
}

/** Poll `check` every `stepMs` until it gives something truthy; else undefined after `timeoutMs`. */
export async function until<T>(check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs: number, stepMs = 250): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** Wait until `url` answers HTTP(S) at all from `ns` (curl exit 0 with any status); throws with the role's output otherwise. */
export async function waitForHttp(lab: Lab, ns: Ns, url: string, role: RoleProcess, extraCurl: string[] = [], timeoutMs = 30_000): Promise<void> {
  const up = await until(async () => {
    if (role.child.exitCode !== null) throw new Error(`${role.name} exited (${role.child.exitCode}):\n${role.tail()}`);
    return (await lab.exec(ns, ['curl', '-s', '-o', '/dev/null', '--max-time', '2', ...extraCurl, url])).code === 0;
  }, timeoutMs);
  if (!up) throw new Error(`${role.name} did not answer on ${url} in ${timeoutMs} ms:\n${role.tail()}`);
}
