/**
 * A test's own nginx, in the foreground with a config the test wrote (prefix and error log in its folder),
 * stopped gracefully (SIGTERM, awaited) at the test's teardown and killed with the test process if that dies first.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { track } from './children.js';

export const NGINX = '/usr/sbin/nginx';

export interface NginxProcess {
  proc: ChildProcess;
  /** What nginx wrote to stderr so far (a config error before its error log is open). */
  stderr(): string;
}

export function spawnNginx(t: { teardown(fn: () => unknown): void }, dir: string, conf: string): NginxProcess {
  const proc = spawn(NGINX, ['-p', `${dir}/`, '-c', conf, '-e', `${dir}/error.log`], { stdio: ['ignore', 'ignore', 'pipe'] });
  track(proc);
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  t.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      await exited;
    }
  });
  return { proc, stderr: () => stderr };
}
