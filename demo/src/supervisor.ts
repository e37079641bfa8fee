/**
 * Starts the demo's processes with their output in log files, waits until each says it is ready, and
 * stops them all (last started, first stopped) on Ctrl-C.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';

export interface Started {
  name: string;
  proc: ChildProcess;
  /** The first match of the ready pattern in the process's output. */
  match: RegExpExecArray;
}

export class Supervisor {
  private readonly children: Started[] = [];

  /** Spawn `cmd`, send its stdout and stderr to `logFile`, resolve once `ready` matches its output. */
  async start(name: string, cmd: string, args: string[], opts: { logFile: string; ready: RegExp; timeoutMs?: number; env?: NodeJS.ProcessEnv }): Promise<Started> {
    const log = createWriteStream(opts.logFile, { flags: 'a' });
    const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
    let seen = '';
    let ready = false;
    const match = await new Promise<RegExpExecArray>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} not ready after ${opts.timeoutMs ?? 20_000} ms; see ${opts.logFile}`)), opts.timeoutMs ?? 20_000);
      const onData = (d: Buffer): void => {
        log.write(d);
        if (ready) return;
        seen += d.toString();
        const m = opts.ready.exec(seen);
        if (m) {
          ready = true;
          seen = '';
          clearTimeout(timer);
          resolve(m);
        }
      };
      proc.stdout?.on('data', onData);
      proc.stderr?.on('data', onData);
      proc.once('exit', (code) => {
        clearTimeout(timer);
        if (!ready) reject(new Error(`${name} exited with code ${code}; see ${opts.logFile}`));
      });
    });
    const started = { name, proc, match };
    this.children.push(started);
    return started;
  }

  async stopAll(): Promise<void> {
    for (const child of this.children.reverse()) {
      if (child.proc.exitCode !== null || child.proc.signalCode !== null) continue;
      const exited = new Promise<void>((resolve) => child.proc.once('exit', () => resolve()));
      child.proc.kill('SIGTERM');
      const timer = setTimeout(() => child.proc.kill('SIGKILL'), 6_000);
      await exited;
      clearTimeout(timer);
    }
  }
}
