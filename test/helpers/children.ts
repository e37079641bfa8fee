/**
 * Servers a test started are stopped even when the test process is killed by tap's timeout (SIGALRM)
 * or interrupted, so no redis-server or nginx outlives its test.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

const children = new Set<ChildProcess>();
const finalizers = new Set<() => void>();
let installed = false;

export function track(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
  install();
}

/** Run `fn` (synchronous) if the test process dies before the test's own teardown; returns the undo. */
export function atDeath(fn: () => void): () => void {
  finalizers.add(fn);
  install();
  return () => finalizers.delete(fn);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.once('exit', killAll);
  for (const signal of ['SIGALRM', 'SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAll();
      process.kill(process.pid, signal);
    });
  }
}

function killAll(): void {
  for (const child of children) child.kill('SIGKILL');
  for (const fn of finalizers) {
    try {
      fn();
    } catch {
      /* intentional: best effort while dying */
    }
  }
}

/** Whether a process with this pid exists (signal 0 tests without sending anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether `pid` runs: alive and not a zombie (an orphan's exit waits for init to reap it). */
export function isRunning(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}
