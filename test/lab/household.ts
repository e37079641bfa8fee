/**
 * A household's traffic in the lab and the viewers' pull on its box, each a process in its namespace
 * whose output the test reads as it comes: the bulk upload (iperf3 to a server in the internet), the
 * interactive flow (interactive-flow.ts to udp-echo.ts) and the viewers (viewer-load.ts). Times are the
 * test's clock (ms since the epoch), the same clock every namespace shares.
 */
import type { ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { isRecord } from '../../shared/src/protocol/json.js';
import type { Lab, Ns } from './lab.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const script = (name: string): string => path.join(HERE, `${name}.js`);

/** Calls `onLine` with each line `child` prints, stamped when it arrived. */
function readLines(child: ChildProcess, onLine: (line: string, at: number) => void): void {
  if (child.stdout) createInterface({ input: child.stdout }).on('line', (line) => onLine(line, Date.now()));
}

function parseJson(line: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(line);
    return isRecord(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Resolves when `child` prints a line matching `ready`; rejects if it exits first or stays silent `timeoutMs`. */
function whenReady(child: ChildProcess, what: string, ready: RegExp, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} not ready in ${timeoutMs} ms`)), timeoutMs);
    readLines(child, (line) => {
      if (!ready.test(line)) return;
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}) before it was ready`));
    });
  });
}

/** The far ends in the internet: iperf3's server and the UDP echo server. */
export async function startHouseholdServers(lab: Lab, o: { ip: string; iperfPort: number; echoPort: number }): Promise<void> {
  const iperf = lab.spawn(lab.internet, ['iperf3', '--server', '--bind', o.ip, '--port', String(o.iperfPort), '--forceflush']);
  const echo = lab.spawn(lab.internet, [process.execPath, script('udp-echo'), o.ip, String(o.echoPort)]);
  // Kept for reading a failure, as the roles' logs are.
  const logDir = path.resolve('build', 'test-output', 'lab-logs');
  mkdirSync(logDir, { recursive: true });
  const log = createWriteStream(path.join(logDir, 'household-iperf3-server.log'));
  iperf.stdout?.pipe(log);
  iperf.stderr?.pipe(log);
  echo.stderr?.resume();
  await Promise.all([whenReady(iperf, 'iperf3 server', /listening/i), whenReady(echo, 'udp-echo', /listening/)]);
}

/** The interactive flow's requests and replies so far. */
export class InteractiveFlow {
  /** Request number → when it was sent. */
  readonly sentAt = new Map<number, number>();
  /** Request number → its round-trip time (ms), for those answered. */
  readonly rttMs = new Map<number, number>();

  constructor(private readonly child: ChildProcess) {
    readLines(child, (line) => {
      const o = parseJson(line);
      if (typeof o?.seq !== 'number') return;
      if (typeof o.at === 'number') this.sentAt.set(o.seq, o.at);
      if (typeof o.rttMs === 'number') this.rttMs.set(o.seq, o.rttMs);
    });
  }

  /** The requests sent in [fromMs, toMs): their round-trip times (answered ones) and how many were lost. */
  window(fromMs: number, toMs: number): { rttsMs: number[]; sent: number; lost: number } {
    const rttsMs: number[] = [];
    let sent = 0;
    for (const [seq, at] of this.sentAt) {
      if (at < fromMs || at >= toMs) continue;
      sent += 1;
      const rtt = this.rttMs.get(seq);
      if (rtt !== undefined) rttsMs.push(rtt);
    }
    return { rttsMs, sent, lost: sent - rttsMs.length };
  }

  /** Each request sent in [fromMs, toMs): when, and its round trip (undefined: lost). */
  requests(fromMs: number, toMs: number): Array<{ atMs: number; rttMs: number | undefined }> {
    return [...this.sentAt].filter(([, at]) => at >= fromMs && at < toMs).map(([seq, at]) => ({ atMs: at, rttMs: this.rttMs.get(seq) }));
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}

export function startInteractiveFlow(lab: Lab, household: Ns, echo: { ip: string; port: number }): InteractiveFlow {
  return new InteractiveFlow(lab.spawn(household, [process.execPath, script('interactive-flow'), echo.ip, String(echo.port)]));
}

/** Bytes the viewers received, by 100 ms bin (start, ms since the epoch); bins with nothing are absent. */
export class ViewerLoad {
  readonly bins = new Map<number, number>();
  readonly errors: string[] = [];

  constructor(private readonly child: ChildProcess) {
    readLines(child, (line) => {
      const o = parseJson(line);
      if (typeof o?.bin === 'number' && typeof o.bytes === 'number') this.bins.set(o.bin, (this.bins.get(o.bin) ?? 0) + o.bytes);
      else if (typeof o?.error === 'string') this.errors.push(o.error);
    });
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}

/** `connections` viewers in `ns` pulling `<baseUrl><i>.ts` (i < files) on keep-alive connections. */
export function startViewers(lab: Lab, ns: Ns, o: { baseUrl: string; files: number; connections: number }): ViewerLoad {
  return new ViewerLoad(lab.spawn(ns, [process.execPath, script('viewer-load'), o.baseUrl, String(o.files), String(o.connections)]));
}

export interface BulkUpload {
  /** When the first data left: iperf3's first interval (0.1 s) ended that long after it. */
  dataStartMs: number;
  /** dataStartMs + the upload's duration: when the household stopped sending. */
  dataEndMs: number;
  /** iperf3's receiver figure: what reached the server, in Mbit/s. */
  receivedMbit: number;
  output: string;
}

const INTERVAL_S = 0.1;
const UNIT_MBIT: Record<string, number> = { bits: 1e-6, Kbits: 1e-3, Mbits: 1, Gbits: 1e3 };

/**
 * The household's bulk upload: one iperf3 TCP stream from `household` to the server for `seconds`.
 * `onStart` is called once data flows (with its time), so the caller can time what follows from it.
 */
export function bulkUpload(lab: Lab, household: Ns, server: { ip: string; port: number }, seconds: number, onStart?: (atMs: number) => void): Promise<BulkUpload> {
  const child = lab.spawn(household, ['iperf3', '--client', server.ip, '--port', String(server.port), '--time', String(seconds), '--interval', String(INTERVAL_S), '--forceflush']);
  let dataStartMs: number | undefined;
  let receivedMbit: number | undefined;
  const lines: string[] = [];
  readLines(child, (line, at) => {
    lines.push(line);
    // The first interval ends about 0.1 s after data began (later on a loaded machine: it says when).
    const first = /\s0\.00-(\d+\.\d+)\s+sec/.exec(line);
    if (dataStartMs === undefined && first?.[1]) {
      dataStartMs = at - Number(first[1]) * 1000;
      onStart?.(dataStartMs);
    }
    const received = /([\d.]+)\s+(bits|Kbits|Mbits|Gbits)\/sec\s+receiver/.exec(line);
    if (received?.[1] && received[2]) receivedMbit = Number(received[1]) * (UNIT_MBIT[received[2]] ?? NaN);
  });
  child.stderr?.on('data', (d: Buffer) => lines.push(d.toString().trim()));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => {
      const output = lines.join('\n');
      if (code !== 0 || dataStartMs === undefined || receivedMbit === undefined) {
        reject(new Error(`iperf3 upload failed (exit ${code}):\n${output}`));
        return;
      }
      resolve({ dataStartMs, dataEndMs: dataStartMs + seconds * 1000, receivedMbit, output });
    });
  });
}
