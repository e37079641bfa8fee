/**
 * CPU time a process (or a process and its children) has used so far, from /proc. The serving benchmark
 * samples it around a load to say what the agent costs per served byte next to what nginx's own workers
 * cost for the same bytes. Each thread's /proc/<pid>/task/<tid>/schedstat starts with its time on a CPU
 * in nanoseconds: exact where utime + stime count 10 ms ticks, which a one-second smoke load can miss.
 */
import { readFileSync, readdirSync } from 'node:fs';

/** Nanoseconds on a CPU of every thread of `pid` (its own, not its children's), or 0 once it is gone. */
function cpuNanoseconds(pid: number): number {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0; // intentional: the process exited
  }
  let ns = 0;
  for (const tid of tids) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      /* intentional: the thread ended between the listing and the read */
    }
  }
  return ns;
}

/** CPU seconds of `pid`'s threads so far. */
export function cpuSeconds(pid: number): number {
  return cpuNanoseconds(pid) / 1e9;
}

/** The pids whose parent is `pid` (nginx's workers under its master). */
export function childPids(pid: number): number[] {
  const children: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // After "pid (comm) state": the comm may hold spaces and parentheses, so split after its last ")".
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) children.push(Number(name));
    } catch {
      /* intentional: the process exited */
    }
  }
  return children;
}

/** CPU seconds of `pid` and its children so far. */
export function treeCpuSeconds(pid: number): number {
  return [pid, ...childPids(pid)].reduce((sum, p) => sum + cpuSeconds(p), 0);
}
