/**
 * The process side of the fuzz suite: runs `bin/dandelion <role>` as a child with its own Redis, sends
 * generated traffic over raw sockets with bounded concurrency, and drives fast-check so that a process
 * that dies is a failing property, restarted for every shrinking step, and reported with the seed to
 * replay it and the child's own stderr. Also reads what the suite checks afterwards: RSS from
 * /proc/<pid>/status and the records left in Redis.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import type { Test } from 'tap';
import type { Redis } from 'ioredis';
import { freePort } from '../../shared/src/listen.js';
import { atDeath, isAlive, track } from '../helpers/children.js';
import { encodeFrame, encodeHttpRequest, floodFrames, publishMessage, sprayMessage, textFrame } from './generators.js';
import type { FloodSpec, HttpConnectionSpec, SpraySpec, WsItem, WsSessionSpec } from './generators.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/dandelion');

/**
 * The seed of every property in this run: FUZZ_SEED to replay a failure, otherwise a constant, so
 * `make test` fuzzes the same inputs every time and a failure is never a fluke of the day.
 */
export const FUZZ_SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : 1414;

/** Longest failure report printed (a shrunk input is small; one cut short by the time limit may not be). */
const REPORT_CHARS = 16 * 1024;

/** FUZZ_VERBOSE=1: a progress line per run on stderr (tuning counts and concurrency). */
const VERBOSE = process.env.FUZZ_VERBOSE === '1';

/** Keep this much of a child's output: enough for the stack trace of the exception that killed it. */
const OUTPUT_KEEP_CHARS = 64 * 1024;

// ---------------------------------------------------------------- the role as a child process

export type Role = 'entrance' | 'agent' | 'publisher';

export interface RoleProcess {
  role: Role;
  /** The node process (bin/dandelion execs node, so this is the role itself). */
  readonly pid: number;
  /** Named ports, e.g. ENTRANCE_PORT, BOX_PORT, METRICS_PORT, BOX_HTTP_PORT. */
  ports: Record<string, number>;
  env: Record<string, string>;
  alive(): boolean;
  /** The last output of the current child, and of every child that died before it. */
  output(): string;
  /** Output of children that died (their exit code or signal and the stderr tail with the stack trace). */
  deaths: string[];
  /** Start it again with the same config (after a crash, for the next shrinking step). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface RoleOptions {
  role: Role;
  /** DANDELION_<KEY> values. */
  env: Record<string, string>;
  ports: Record<string, number>;
  /** Resolves when the role serves (polled after spawning). */
  ready(p: RoleProcess): Promise<boolean>;
  /** Extra cleanup when the test process dies (the agent's nginx). */
  atDeath?: () => void;
}

export async function startRole(t: { teardown(fn: () => unknown): void }, opts: RoleOptions): Promise<RoleProcess> {
  let child: ChildProcess | undefined;
  let out = '';
  const deaths: string[] = [];
  let stopping = false;
  let restarting: Promise<void> | undefined;
  const undo = opts.atDeath ? atDeath(opts.atDeath) : () => undefined;

  const spawnOnce = async (): Promise<void> => {
    const c = spawn(BIN, [opts.role], { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    track(c);
    child = c;
    out = '';
    const keep = (d: Buffer): void => {
      out += d.toString();
      if (out.length > 2 * OUTPUT_KEEP_CHARS) out = out.slice(-OUTPUT_KEEP_CHARS);
    };
    c.stdout?.on('data', keep);
    c.stderr?.on('data', keep);
    c.once('exit', (code, signal) => {
      if (!stopping) deaths.push(`${opts.role} (pid ${c.pid}) exited with ${signal ?? `code ${code}`}; its last output:\n${out.slice(-8000)}`);
    });
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (c.exitCode !== null || c.signalCode !== null) throw new Error(`${opts.role} did not start:\n${out}`);
      if (await opts.ready(proc).catch(() => false)) return;
      await sleep(100);
    }
    throw new Error(`${opts.role} not ready within 20 s:\n${out}`);
  };

  const proc: RoleProcess = {
    role: opts.role,
    get pid() {
      return child?.pid ?? -1;
    },
    ports: opts.ports,
    env: opts.env,
    alive: () => child !== undefined && child.exitCode === null && child.signalCode === null && isAlive(child.pid ?? -1),
    output: () => out,
    deaths,
    async restart() {
      if (proc.alive()) return;
      restarting ??= spawnOnce().finally(() => (restarting = undefined));
      await restarting;
    },
    async stop() {
      stopping = true;
      const c = child;
      if (c && c.exitCode === null && c.signalCode === null) {
        const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
        c.kill('SIGTERM');
        const timer = setTimeout(() => c.kill('SIGKILL'), 8_000);
        await exited;
        clearTimeout(timer);
      }
      opts.atDeath?.();
      undo();
    },
  };
  t.teardown(() => proc.stop());
  await spawnOnce();
  return proc;
}

/** DANDELION_<KEY> env from a plain object. */
export function dandelionEnv(values: Record<string, string | number | boolean | string[]>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [`DANDELION_${k}`, Array.isArray(v) ? JSON.stringify(v) : String(v)]));
}

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort('127.0.0.1'));
  return [...ports];
}

/** A loopback port nothing listens on (for ENTRANCE_URLS of a role whose entrance is not under test). */
export async function closedPort(): Promise<number> {
  return freePort('127.0.0.1');
}

// ---------------------------------------------------------------- measurements

/** Resident memory of a process in KiB (VmRSS), or 0 when it is gone. */
export function rssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** nginx's master and workers together (the workers are the master's children). */
export function nginxRssKiB(runDirectory: string): number {
  let master: number;
  try {
    master = Number(readFileSync(path.join(runDirectory, 'nginx.pid'), 'utf8').trim());
  } catch {
    return 0;
  }
  let total = rssKiB(master);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === master) total += rssKiB(Number(entry));
    } catch {
      /* intentional: the process went away while we looked */
    }
  }
  return total;
}

export interface RedisRecords {
  keys: number;
  /**
   * What stays: keys without a TTL or with one longer than LINGER_SECONDS, each counted as its number of
   * entries (members of a set or sorted set, items of a list, fields of a hash shared by many peers), or
   * as 1 (a string, or a hash holding one peer's message, whose key names that peer: its fields are
   * the message's, not one per stranger).
   */
  lasting: number;
  /** `lasting` by key pattern (IDs replaced by *), for the report. */
  byPattern: Record<string, number>;
}

/** Keys that expire within this many seconds are traffic records and the like, gone on their own. */
export const LINGER_SECONDS = 120;

/** A key about one peer: after its owner's `<id>:` prefix, it names a box or publisher ID. */
function namesAPeer(key: string): boolean {
  return /(box|publisher)-[A-Za-z0-9_.-]+/.test(key.replace(/^(box|publisher|entrance)-[A-Za-z0-9_.-]+:/, ''));
}

export async function redisRecords(redis: Redis, ignore: (key: string) => boolean = () => false): Promise<RedisRecords> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  const byPattern: Record<string, number> = {};
  let lasting = 0;
  for (let i = 0; i < keys.length; i += 500) {
    const chunk = keys.slice(i, i + 500);
    const pipe = redis.pipeline();
    for (const k of chunk) pipe.type(k).ttl(k);
    const res = (await pipe.exec()) ?? [];
    const sizes = redis.pipeline();
    const counted: string[] = [];
    chunk.forEach((k, j) => {
      const type = res[2 * j]?.[1] as string;
      const ttl = res[2 * j + 1]?.[1] as number;
      if (ignore(k) || (ttl >= 0 && ttl <= LINGER_SECONDS)) return;
      counted.push(k);
      if (type === 'hash' && !namesAPeer(k)) sizes.hlen(k);
      else if (type === 'set') sizes.scard(k);
      else if (type === 'zset') sizes.zcard(k);
      else if (type === 'list') sizes.llen(k);
      else sizes.exists(k);
    });
    const n = (await sizes.exec()) ?? [];
    counted.forEach((k, j) => {
      const size = Number(n[j]?.[1] ?? 0);
      lasting += size;
      const pattern = k.replace(/(box|publisher|entrance)-[A-Za-z0-9_.-]+/g, '$1-*').replace(/:[0-9a-f]{8,}/g, ':*');
      byPattern[pattern] = (byPattern[pattern] ?? 0) + size;
    });
  }
  return { keys: keys.length, lasting, byPattern };
}

// ---------------------------------------------------------------- sending

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Run `fn` over `items`, at most `limit` at a time. */
export async function inParallel<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Open a socket, write `chunks` (in `pieces` writes), end it as `mode` says, and resolve when it is
 * closed (or after `waitMs`, cutting it). Never rejects: a refused or reset connection is an answer too.
 */
function exchangeBytes(port: number, bytes: Buffer, mode: HttpConnectionSpec['mode'] | 'read', pieces: number, waitMs: number): Promise<{ response: Buffer }> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const got: Buffer[] = [];
    let gotBytes = 0;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ response: Buffer.concat(got) });
    };
    const timer = setTimeout(finish, waitMs);
    socket.on('data', (d: Buffer) => {
      if (gotBytes < 64 * 1024) got.push(d);
      gotBytes += d.length;
      if (mode === 'await') finish();
    });
    socket.on('error', finish);
    socket.on('close', finish);
    socket.once('connect', () => {
      void (async () => {
        const step = Math.ceil(bytes.length / pieces);
        for (let i = 0; i < bytes.length && !done; i += step) {
          socket.write(bytes.subarray(i, i + step));
          if (pieces > 1) await new Promise((r) => setImmediate(r));
        }
        if (mode === 'end') socket.end();
        else if (mode === 'abort') finish();
        else if (mode === 'linger') setTimeout(finish, 50);
      })();
    });
  });
}

/** Send one generated connection; returns how many requests it carried. */
export async function sendHttpConnection(port: number, conn: HttpConnectionSpec): Promise<number> {
  const t0 = Date.now();
  const bytes = Buffer.concat(conn.requests.map(encodeHttpRequest));
  // A truncated request is never answered: end it, rather than wait for a reply that cannot come.
  const mode = conn.mode === 'await' && conn.requests.some((r) => r.keep < 1) ? 'end' : conn.mode;
  await exchangeBytes(port, bytes, mode, conn.pieces, mode === 'await' ? 400 : 1_500);
  timed(`http ${mode}`, t0);
  return conn.requests.length;
}

/** A raw HTTP/1.1 request (with Connection: close) and the raw response, read until the server closes. */
export async function rawRequest(port: number, request: Buffer, waitMs = 5_000): Promise<string> {
  return (await exchangeBytes(port, request, 'read', 1, waitMs)).response.toString('latin1');
}

function upgradeRequest(wsPath: string): Buffer {
  return Buffer.from(`GET ${wsPath} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
}

/** Open a WebSocket by hand; resolves with the socket once the server answered 101, else undefined. */
function openRawWs(port: number, wsPath: string): Promise<net.Socket | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let head = Buffer.alloc(0);
    const fail = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(undefined);
    };
    const timer = setTimeout(fail, 3_000);
    socket.on('error', fail);
    socket.on('close', fail);
    const onData = (d: Buffer): void => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      socket.off('close', fail);
      clearTimeout(timer);
      if (!/^HTTP\/1\.1 101/.test(head.toString('latin1'))) return fail();
      socket.off('error', fail);
      socket.on('error', () => undefined);
      socket.resume();
      resolve(socket);
    };
    socket.on('data', onData);
    socket.once('connect', () => socket.write(upgradeRequest(wsPath)));
  });
}

/** Until the socket drains, closes, or `ms` passes (then it is cut); leaves no listener behind. */
function drained(socket: net.Socket, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    const timer = setTimeout(() => {
      socket.destroy();
      done();
    }, ms);
    socket.once('drain', done);
    socket.once('close', done);
  });
}

function closedOrAfter(socket: net.Socket, ms: number): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    const timer = setTimeout(() => {
      socket.destroy();
      resolve();
    }, ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Play one generated session on a fresh WebSocket; returns the frames it carried and whether the upgrade was taken. */
/** Time spent by kind of session (FUZZ_VERBOSE), to see where a slow fuzz spends it. */
export const timings: Record<string, { n: number; ms: number }> = {};
function timed(kind: string, since: number): void {
  const e = (timings[kind] ??= { n: 0, ms: 0 });
  e.n += 1;
  e.ms += Date.now() - since;
}

export async function sendWsSession(port: number, wsPath: string, s: WsSessionSpec): Promise<{ frames: number; upgraded: boolean }> {
  const t0 = Date.now();
  try {
    return await playWsSession(port, wsPath, s);
  } finally {
    timed(`ws ${s.ending}`, t0);
  }
}

async function playWsSession(port: number, wsPath: string, s: WsSessionSpec): Promise<{ frames: number; upgraded: boolean }> {
  const frames = s.frames.length + (s.publishFirst ? 1 : 0);
  const t0 = Date.now();
  const socket = await openRawWs(port, wsPath);
  timed('ws upgrade', t0);
  if (!socket) return { frames, upgraded: false };
  const bufs: Buffer[] = [];
  if (s.publishFirst) bufs.push(...encodeFrame(textFrame(JSON.stringify(publishMessage(s.publishFirst)))));
  for (const f of s.frames) bufs.push(...encodeFrame(f));
  socket.write(Buffer.concat(bufs));
  switch (s.ending) {
    case 'close-frame':
      socket.write(Buffer.concat(encodeFrame({ fin: true, rsv: 0, opcode: 8, mask: 'random', length: 'auto', payload: { bytes: [0x03, 0xe8] } })));
      await closedOrAfter(socket, 1_500);
      break;
    case 'end':
      socket.end();
      await closedOrAfter(socket, 1_500);
      break;
    case 'abort':
      socket.destroy();
      break;
    case 'wait':
      await closedOrAfter(socket, 200);
      break;
  }
  return { frames, upgraded: true };
}

/**
 * Large frames on `f.sockets` sockets at once, as fast as the sockets take them, without reading a reply;
 * each socket is held briefly so the server's memory peaks while they are open. Returns the frames sent.
 */
export async function sendFlood(port: number, wsPath: string, f: FloodSpec, target: 'entrance' | 'box', publisherId?: string): Promise<number> {
  const t0 = Date.now();
  const frames = floodFrames(f, target); // built once, written by every socket
  await Promise.all(
    Array.from({ length: f.sockets }, async (_, i) => {
      const socket = await openRawWs(port, wsPath);
      if (!socket) return;
      if (publisherId) socket.write(Buffer.concat(encodeFrame(textFrame(JSON.stringify(publishMessage(`${publisherId}${i}`))))));
      for (const b of frames) {
        if (socket.destroyed) break;
        if (!socket.write(b)) await drained(socket, 5_000);
      }
      await closedOrAfter(socket, 500);
      socket.destroy();
    }),
  );
  timed('flood', t0);
  return f.sockets * f.frames;
}

/** Frames a spray has in flight at once: under the receivers' limit of frames queued per socket. */
const SPRAY_WINDOW = 32;

/** Count the server's frames on a raw socket (enough parsing to tell where each frame ends). */
function countFrames(socket: net.Socket): { seen(): number; wait(n: number, ms: number): Promise<boolean> } {
  let buf = Buffer.alloc(0);
  let count = 0;
  let waiter: (() => void) | undefined;
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      if (buf.length < 2) break;
      let len = (buf[1] as number) & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) break;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) break;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      if (buf.length < off + len) break;
      buf = buf.subarray(off + len);
      count += 1;
    }
    waiter?.();
  });
  return {
    seen: () => count,
    wait: (n, ms) =>
      new Promise((resolve) => {
        const timer = setTimeout(() => done(false), ms);
        const done = (ok: boolean): void => {
          clearTimeout(timer);
          waiter = undefined;
          socket.off('close', onClose);
          resolve(ok);
        };
        const onClose = (): void => done(count >= n);
        waiter = () => count >= n && done(true);
        socket.once('close', onClose);
        if (count >= n) done(true);
      }),
  };
}

/** Valid messages with new IDs, `SPRAY_WINDOW` at a time, each window answered before the next. */
export async function sendSpray(port: number, wsPath: string, s: SpraySpec): Promise<number> {
  const t0 = Date.now();
  const socket = await openRawWs(port, wsPath);
  if (socket) {
    const replies = countFrames(socket);
    for (let i = 0; i < s.count && !socket.destroyed; i += SPRAY_WINDOW) {
      const n = Math.min(SPRAY_WINDOW, s.count - i);
      socket.write(Buffer.concat(Array.from({ length: n }, (_, j) => encodeFrame(textFrame(JSON.stringify(sprayMessage(s, i + j))))).flat()));
      if (!(await replies.wait(i + n, 5_000))) break;
    }
    socket.destroy();
  }
  timed('spray', t0);
  return s.count;
}

/** Send one WebSocket item of a batch; returns the frames it counted for. */
export async function sendWsItem(port: number, wsPath: string, item: WsItem, target: 'entrance' | 'box'): Promise<number> {
  if ('flood' in item) return sendFlood(port, wsPath, item.flood, target, target === 'box' ? 'publisher-flood' : undefined);
  if ('spray' in item) return sendSpray(port, wsPath, item.spray);
  return (await sendWsSession(port, wsPath, item.session)).frames;
}

// ---------------------------------------------------------------- fast-check against a process

export interface FuzzOptions<T> {
  name: string;
  proc: RoleProcess;
  /** One run's input: a batch sent concurrently. */
  batch: fc.Arbitrary<T[]>;
  /** Send one item; returns how many requests or frames it counted for. */
  send(item: T): Promise<number>;
  concurrency: number;
  /** Inputs (requests or frames) to send at least. */
  target: number;
  /** Runs of the first round (about target ÷ inputs per batch); more rounds follow until the target is met. */
  runsPerRound: number;
  /** Time allowed to shrink a failure (each shrinking step that crashes restarts the process). */
  shrinkMs?: number;
}

export interface FuzzResult {
  name: string;
  sent: number;
  runs: number;
  ms: number;
  failed: boolean;
  /** For a failure: seed, shrunk counterexample and the child's output when it died. */
  report: string;
}

/**
 * Property: after any batch of generated inputs the process is still running. A batch that kills it
 * fails the property; fast-check then shrinks it, and every shrinking step starts from a fresh process.
 */
export async function fuzz<T>(o: FuzzOptions<T>): Promise<FuzzResult> {
  const started = Date.now();
  let sent = 0;
  let runs = 0;
  let failing = false;
  let shrinkDeadline = Infinity;
  let firstDeath = '';
  const property = fc.asyncProperty(o.batch, async (batch) => {
    if (failing && Date.now() > shrinkDeadline) return true; // shrinking budget spent: keep the smallest so far
    if (!o.proc.alive()) await o.proc.restart();
    runs += 1;
    let n = 0;
    await inParallel(batch, o.concurrency, async (item) => {
      const k = await o.send(item);
      n += k;
    });
    if (!failing) sent += n;
    if (VERBOSE) console.error(`${o.name}: run ${runs}, ${sent} sent, ${((Date.now() - started) / 1000).toFixed(1)} s${failing ? ' (shrinking)' : ''}`);
    // A crash may land a moment after its socket closed.
    await sleep(o.proc.alive() ? 0 : 50);
    if (o.proc.alive()) return true;
    if (!failing) {
      failing = true;
      shrinkDeadline = Date.now() + (o.shrinkMs ?? 45_000);
      firstDeath = o.proc.deaths.at(-1) ?? '';
    }
    return false;
  });
  // Rounds of `runsPerRound` runs, each with its own seed (FUZZ_SEED, +1, …), until the target is sent:
  // counts per run vary, and fast-check has no "stop when" other than numRuns.
  let seed = FUZZ_SEED;
  let details = await fc.check(property, { seed, numRuns: o.runsPerRound, endOnFailure: false });
  while (!details.failed && sent < o.target) {
    seed += 1;
    details = await fc.check(property, { seed, numRuns: Math.max(1, Math.ceil(((o.target - sent) / Math.max(1, sent)) * runs)), endOnFailure: false });
  }
  if (VERBOSE) console.error(`${o.name}: time by kind`, JSON.stringify(timings));
  if (!o.proc.alive()) await o.proc.restart();
  let report = '';
  if (details.failed) {
    const lastDeath = o.proc.deaths.at(-1) ?? '';
    const culprit = details.counterexample ? await isolate(o, details.counterexample[0]) : undefined;
    report = [
      `${o.name}: the process died. Replay with FUZZ_SEED=${details.seed} (fast-check path ${details.counterexamplePath}).`,
      culprit ? `This one input alone kills it: ${fc.stringify(culprit.item)}\n${culprit.death.slice(-3000)}` : '',
      `Death on the shrunk batch:\n${lastDeath.slice(-3000)}`,
      `The batch, shrunk ${details.numShrinks} time(s): ${fc.stringify(details.counterexample)}`,
      lastDeath !== firstDeath ? `First death:\n${firstDeath.slice(-3000)}` : '',
    ].join('\n');
  }
  // The child's own output can hold any character a request carried (U+2028 among them), which would
  // break the TAP stream the report goes into: escape all but printable ASCII and newlines.
  report = report.replace(/[^\n\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return { name: o.name, sent, runs, ms: Date.now() - started, failed: details.failed, report };
}

/** Send `item` to a fresh process; the death it caused, if any. */
async function killsAlone<T>(o: FuzzOptions<T>, item: T, settleMs: number): Promise<string | undefined> {
  if (!o.proc.alive()) await o.proc.restart();
  const deaths = o.proc.deaths.length;
  await o.send(item);
  await until(() => o.proc.deaths.length > deaths, settleMs);
  if (o.proc.deaths.length === deaths) return undefined;
  await o.proc.restart();
  return o.proc.deaths.at(-1) ?? '';
}

/**
 * The item of a failing batch that kills a fresh process on its own, with that death's output. A death
 * can land while the next item is sent, so each suspect is confirmed alone, and its predecessor tried.
 */
async function isolate<T>(o: FuzzOptions<T>, batch: T[]): Promise<{ item: T; death: string } | undefined> {
  for (let i = 0; i < batch.length; i++) {
    if ((await killsAlone(o, batch[i] as T, 250)) === undefined) continue;
    for (const j of i > 0 ? [i, i - 1] : [i]) {
      const death = await killsAlone(o, batch[j] as T, 1_000);
      if (death !== undefined) return { item: batch[j] as T, death };
    }
  }
  return undefined;
}

/** Poll until `check` is truthy or `ms` passes. */
export async function until<T>(check: () => Promise<T> | T, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  let v = await check();
  while (!v && Date.now() < deadline) {
    await sleep(50);
    v = await check();
  }
  return v;
}

/** True when an HTTP GET of `path` on `port` answers with any status line. */
export async function answers(port: number, p: string): Promise<boolean> {
  const res = await rawRequest(port, Buffer.from(`GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`), 2_000);
  return /^HTTP\/1\.[01] \d{3}/.test(res);
}

// ---------------------------------------------------------------- one fuzzed target, checked

export interface Target<T> {
  /** e.g. "agent BOX_PORT (raw HTTP)". */
  name: string;
  proc: RoleProcess;
  redis: Redis;
  /** Valid traffic before the idle RSS is taken, so JIT and heap growth count as idle. */
  warmUp(): Promise<void>;
  /** A real client's round trip; asserts on `t`. */
  validRound(t: Tap, when: string): Promise<void>;
  /** RSS of a helper process to report beside the role's (the agent's nginx). */
  helperRss?: () => number;
  fuzz: Omit<FuzzOptions<T>, 'proc' | 'name'>;
  /** Lasting Redis records the fuzz may leave (caps.ts), and keys not counted. */
  recordsCap: number;
  recordsIgnore?: (key: string) => boolean;
  rssLimit: number;
}

/** tap's Test, as the test files get it. */
export type Tap = Test;

export interface TargetSummary {
  name: string;
  sent: number;
  fuzzMs: number;
  idleRssKiB: number;
  afterRssKiB: number;
  helperIdleRssKiB?: number;
  helperAfterRssKiB?: number;
  recordsBefore: number;
  recordsAfter: number;
  failed: boolean;
}

/**
 * Warm up, take the idle RSS and the Redis records, fuzz, then check: alive and never died, the valid
 * round trip still works, RSS within the limit, records within the cap.
 */
export async function fuzzTarget<T>(t: Tap, target: Target<T>): Promise<TargetSummary> {
  const { name, proc } = target;
  const step = (what: string): void => void (VERBOSE && console.error(`${name}: ${what}`));
  await target.validRound(t, 'before the fuzz');
  step('warming up');
  await target.warmUp();
  await sleep(1_000);
  const idleRssKiB = rssKiB(proc.pid);
  const helperIdleRssKiB = target.helperRss?.();
  const before = await redisRecords(target.redis, target.recordsIgnore);
  step('fuzzing');
  const res = await fuzz({ ...target.fuzz, name, proc });
  step('checking');
  if (res.failed) console.error(`\n${res.report.slice(0, REPORT_CHARS)}\n`);
  t.notOk(res.failed, `${name}: no input kills it`, res.failed ? { report: res.report.slice(0, REPORT_CHARS) } : {});
  t.ok(res.sent >= target.fuzz.target, `${name}: ${res.sent} generated inputs sent (at least ${target.fuzz.target})`);
  t.ok(proc.alive(), `${name}: alive after the fuzz`);
  t.equal(proc.deaths.length, 0, `${name}: never died`, proc.deaths.length ? { deaths: proc.deaths.map((d) => d.slice(0, 4000)) } : {});
  await sleep(500);
  const afterRssKiB = rssKiB(proc.pid);
  const helperAfterRssKiB = target.helperRss?.();
  await target.validRound(t, `${name}: after the fuzz`);
  step('counting records');
  const after = await redisRecords(target.redis, target.recordsIgnore);
  const mib = (k: number): string => `${(k / 1024).toFixed(0)} MiB`;
  t.ok(afterRssKiB <= target.rssLimit * idleRssKiB, `${name}: RSS ${mib(afterRssKiB)} within ${target.rssLimit} × idle ${mib(idleRssKiB)}`);
  t.ok(after.lasting - before.lasting <= target.recordsCap, `${name}: lasting Redis records ${before.lasting} → ${after.lasting} (at most ${target.recordsCap} more)`, after.lasting - before.lasting > target.recordsCap ? { byPattern: after.byPattern } : {});
  const summary: TargetSummary = { name, sent: res.sent, fuzzMs: res.ms, idleRssKiB, afterRssKiB, recordsBefore: before.lasting, recordsAfter: after.lasting, failed: res.failed };
  if (helperIdleRssKiB !== undefined) summary.helperIdleRssKiB = helperIdleRssKiB;
  if (helperAfterRssKiB !== undefined) summary.helperAfterRssKiB = helperAfterRssKiB;
  t.comment(
    `${name}: ${res.sent} in ${res.runs} runs, ${(res.ms / 1000).toFixed(1)} s; RSS idle ${mib(idleRssKiB)} → after ${mib(afterRssKiB)}` +
      (helperIdleRssKiB !== undefined ? ` (nginx ${mib(helperIdleRssKiB)} → ${mib(helperAfterRssKiB ?? 0)})` : '') +
      `; lasting Redis records ${before.lasting} → ${after.lasting}`,
  );
  return summary;
}
