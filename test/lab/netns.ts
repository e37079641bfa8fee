/**
 * Named network namespaces (`ip netns`) inside the sealed outer namespace, and the processes run in
 * them. `ip netns exec` also bind-mounts /etc/netns/<name>/resolv.conf over /etc/resolv.conf, which is
 * how each namespace gets its own resolver.
 */
import { spawn as spawnChild, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { track } from '../helpers/children.js';

/** One network namespace of the lab (its `ip netns` name). */
export interface Ns {
  readonly name: string;
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Killed (SIGKILL) after this long; default 30 s. */
  timeoutMs?: number;
  /** Written to the command's stdin. */
  input?: string;
  env?: NodeJS.ProcessEnv;
}

const DEFAULT_EXEC_TIMEOUT_MS = 30_000;

/** Run a command to its end and collect its output; never throws for a non-zero exit (the caller judges). */
export function execHost(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('exec: empty command');
  return new Promise((resolve, reject) => {
    const stdin = opts.input === undefined ? 'ignore' : 'pipe';
    const child = spawnChild(cmd, args, { stdio: [stdin, 'pipe', 'pipe'], env: opts.env ?? process.env });
    track(child);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // A command that exits without reading its input must not fail the caller with EPIPE.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(opts.input);
  });
}

/** Like execHost, but a non-zero exit is an error naming the command and its stderr (the lab's own setup steps). */
export async function run(argv: readonly string[], opts: ExecOptions = {}): Promise<string> {
  const result = await execHost(argv, opts);
  if (result.code !== 0) throw new Error(`${argv.join(' ')} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
  return result.stdout;
}

export function inNs(ns: Ns, argv: readonly string[]): string[] {
  return ['ip', 'netns', 'exec', ns.name, ...argv];
}

export function execIn(ns: Ns, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return execHost(inNs(ns, argv), opts);
}

export function runIn(ns: Ns, argv: readonly string[], opts: ExecOptions = {}): Promise<string> {
  return run(inNs(ns, argv), opts);
}

/**
 * Start a long-running process in a namespace. `ip netns exec` execs the command in place, so the
 * child's pid is the command's own and killing the child kills it.
 */
export function spawnIn(ns: Ns, argv: readonly string[], opts: SpawnOptions = {}): ChildProcess {
  const child = spawnChild('ip', ['netns', 'exec', ns.name, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  track(child);
  return child;
}

export async function createNs(name: string): Promise<Ns> {
  await run(['ip', 'netns', 'add', name]);
  const ns = { name };
  await runIn(ns, ['ip', 'link', 'set', 'lo', 'up']);
  return ns;
}

/** Kill whatever still runs in the namespace, then delete it (its interfaces go with it). */
export async function deleteNs(ns: Ns): Promise<void> {
  const pids = await execHost(['ip', 'netns', 'pids', ns.name]);
  for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* intentional: it ended on its own meanwhile */
    }
  }
  await execHost(['ip', 'netns', 'delete', ns.name]);
  rmSync(path.join('/etc/netns', ns.name), { recursive: true, force: true });
}

/** The resolver every process started in `ns` through `ip netns exec` uses (e.g. the internet's DNS). */
export function setResolver(ns: Ns, nameserver: string): void {
  const dir = path.join('/etc/netns', ns.name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'resolv.conf'), `nameserver ${nameserver}\noptions timeout:1 attempts:2\n`);
}
