/**
 * `dandelion entrance` as a real process (bin/dandelion), configured through DANDELION_* variables like the
 * in-process helper, so a test can kill it with a signal. Resolves once it logs the URL it listens on.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { track } from './children.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/dandelion');

export interface EntranceProcess {
  url: string;
  proc: ChildProcess;
  /** Everything it wrote on stdout and stderr so far (JSON log lines). */
  output(): string;
  /** Send `signal` and wait until it has exited. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

export async function startEntranceProcess(t: { teardown(fn: () => unknown): void }, env: Record<string, string>): Promise<EntranceProcess> {
  const runDirectory = mkdtempSync(path.join(os.tmpdir(), 'dandelion-entrance-'));
  const proc = spawn(BIN, ['entrance'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      DANDELION_ENTRANCE_IP: '127.0.0.1',
      DANDELION_ENTRANCE_PORT: '0',
      DANDELION_RUN_DIRECTORY: runDirectory,
      DANDELION_LOG_LEVEL: 'info',
      ...env,
    },
  });
  track(proc);
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (): void => {
      const m = /"url":"(ws:[^"]+)"/.exec(out);
      if (m?.[1] !== undefined) resolve(m[1]);
    };
    proc.stdout?.on('data', onData);
    void exited.then(() => reject(new Error(`the entrance exited before listening:\n${out}`)));
  });
  const kill = async (signal: NodeJS.Signals): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(signal);
    await exited;
  };
  t.teardown(() => kill('SIGTERM'));
  return { url, proc, output: () => out, kill };
}
