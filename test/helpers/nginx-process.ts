/**
 * A test's own nginx, in the foreground with a config the test wrote (prefix and error log in its folder),
 * stopped gracefully (SIGTERM, awaited) at the test's teardown and killed with the test process if that dies first.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { managedNginx } from '../../agent/src/nginx/nginx.js';
import type { Nginx } from '../../agent/src/nginx/nginx.js';
import { silentLogger } from '../../shared/src/log.js';
import { atDeath, track } from './children.js';

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

/**
 * The agent's own managed nginx (agent/src/nginx) in `runDirectory`, without an agent around it: stopped
 * at the test's teardown, and its process group killed with the test process if that dies first.
 */
export function managedNginxForTest(t: { teardown(fn: () => unknown): void }, runDirectory: string): Nginx {
  const nginx = managedNginx({ binary: NGINX, runDirectory, log: silentLogger() });
  const undo = atDeath(() => process.kill(-Number(readFileSync(path.join(runDirectory, 'nginx.pid'), 'utf8')), 'SIGKILL'));
  t.teardown(async () => {
    undo();
    await nginx.stop();
  });
  return nginx;
}
