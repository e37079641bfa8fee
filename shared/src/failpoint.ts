/**
 * Failpoints: named places in the code where a test makes the process die with SIGKILL, as a kill -9 or a
 * power cut would at that very step (etcd's gofail, TiKV's fail-rs, FreeBSD's fail(9) do the same). A
 * test cannot otherwise stop a process between two particular system calls.
 *
 * DANDELION_FAILPOINTS=name,name arms them. An environment variable, not a config key: a config file or
 * a config key outlives the start it was meant for (the launcher starts the agent again with the same
 * config, which must then run normally), and no operator should ever find a "kill yourself here" key in
 * docs/config.md. The variable is read once, at load; unset, a failpoint is one Set.size check.
 */

export const FAILPOINTS_ENV = 'DANDELION_FAILPOINTS';

const armed: ReadonlySet<string> = new Set(
  (process.env[FAILPOINTS_ENV] ?? '').split(',').map((name) => name.trim()).filter((name) => name !== ''),
);

/** The failpoints this process was started with (the agent logs them: a box must never run with any). */
export function armedFailpoints(): string[] {
  return [...armed];
}

/** Dies here, by SIGKILL, when DANDELION_FAILPOINTS names `name`; otherwise does nothing. */
export function failpoint(name: string): void {
  if (armed.size === 0 || !armed.has(name)) return;
  // SIGKILL to itself: no exit handler, no flush, no finally block runs, as with kill -9 from outside.
  // The kernel ends every thread before this call returns to JavaScript.
  process.kill(process.pid, 'SIGKILL');
}
