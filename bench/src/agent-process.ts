/**
 * A box agent in its own process, as a box runs it (`dandelion agent --config FILE`): the Node build or a
 * standalone binary. Benchmarks that load a box from this process (memory, serving, replication) need the
 * agent off this process's event loop, and the memory benchmark needs its own RSS.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { atDeath, track } from '../../test/helpers/children.js';
import type { Cleanup } from './common.js';

/** The worktree: build/bench/src → ../../.. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** The Node build of the CLI, through its launcher: the agent runs with the V8 flags a box gives it. */
export const NODE_AGENT = [path.join(ROOT, 'bin', 'dandelion')];
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

export interface AgentProcess {
  pid: number;
  boxId: string;
  connectWs: string;
  /** http://127.0.0.1:<nginx port>/ */
  http: string;
  baseDirectory: string;
  runDirectory: string;
  /** The last lines it logged (stdout and stderr), to say why it failed. */
  logTail(): string;
  /** SIGTERM, then SIGKILL after 10 s; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Resident set size of a process in MiB, from /proc (VmRSS), or undefined once it is gone. */
export function rssMiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined; // intentional: the process exited
  }
}

export async function startAgentProcess(
  cleanup: Pick<Cleanup, 'teardown'>,
  opts: { command: string[]; redisUrl: string; entranceUrl: string; boxId: string; pingSeconds?: number; settings?: Record<string, string> },
): Promise<AgentProcess> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dandelion-bench-agent-'));
  cleanup.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const baseDirectory = path.join(dir, 'files');
  const runDirectory = path.join(dir, 'run');
  for (const d of [baseDirectory, runDirectory]) mkdirSync(d);
  const config = path.join(dir, 'agent.yaml');
  const settings: Record<string, string> = {
    ID: opts.boxId, REDIS_URL: opts.redisUrl, ENTRANCE_URLS: `["${opts.entranceUrl}"]`, BOX_SERVER_IP: '127.0.0.1', BOX_PORT: '0',
    BOX_HTTP_PORT: '0', METRICS_PORT: '0', BASE_DIRECTORY: baseDirectory, RUN_DIRECTORY: runDirectory, NGINX: 'managed',
    BANDWIDTH_TEST_CRON: '""', BANDWIDTH_UP: '100', BANDWIDTH_DOWN: '500', DISK_RESERVE_MB: '1', MAX_FILE_MB: '10',
    BOX_PING_ENTRANCE_FREQ: String(opts.pingSeconds ?? 1), ...opts.settings,
  };
  writeFileSync(config, `${Object.entries(settings).map(([k, v]) => `${k}: ${v}`).join('\n')}\n`);
  const [cmd, ...pre] = opts.command as [string, ...string[]];
  const p = spawn(cmd, [...pre, 'agent', '--config', config], { cwd: dir, env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
  track(p);
  const exited = new Promise<number | null>((resolve) => p.once('exit', (code) => resolve(code)));
  const killNginx = (): void => {
    try {
      process.kill(Number(readFileSync(path.join(runDirectory, 'nginx.pid'), 'utf8')), 'SIGKILL');
    } catch {
      /* intentional: no nginx left, or never started */
    }
  };
  const undo = atDeath(killNginx);
  let stopping: Promise<number | null> | undefined;
  const stop = (): Promise<number | null> => {
    stopping ??= (async () => {
      if (p.exitCode === null && p.signalCode === null) {
        p.kill('SIGTERM');
        const timer = setTimeout(() => p.kill('SIGKILL'), STOP_TIMEOUT_MS);
        const code = await exited;
        clearTimeout(timer);
        killNginx();
        undo();
        return code;
      }
      undo();
      return p.exitCode;
    })();
    return stopping;
  };
  cleanup.teardown(stop);

  let out = '';
  const keep = (d: Buffer): void => {
    out += d.toString();
    if (out.length > 1 << 16) out = out.slice(-(1 << 14));
  };
  const started = await new Promise<{ connectWs: string; http: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the agent did not start in ${START_TIMEOUT_MS / 1000} s: ${out.slice(-2000)}`)), START_TIMEOUT_MS);
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (out.length > 1 << 20) out = out.slice(-(1 << 16)); // keep the tail for errors; the agent logs on
      for (const line of out.split('\n')) {
        if (!line.includes('"box agent started"')) continue;
        clearTimeout(timer);
        p.stdout.off('data', onData);
        p.stdout.on('data', keep);
        resolve(JSON.parse(line) as { connectWs: string; http: string });
        return;
      }
    };
    p.stdout.on('data', onData);
    p.stderr.on('data', keep);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the agent exited (${code}) before it started: ${out.slice(-2000)}`));
    });
  });
  return { pid: p.pid as number, boxId: opts.boxId, connectWs: started.connectWs, http: started.http.endsWith('/') ? started.http : `${started.http}/`, baseDirectory, runDirectory, stop, logTail: () => out.slice(-2000) };
}
