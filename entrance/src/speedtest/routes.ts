/**
 * The capacity ("speed") test boxes run against their entrance (the client is
 * agent/src/bandwidth/speed-test.ts):
 *
 *   GET  {BASE_URL}/speedtest/download?bytes=N   N incompressible bytes, N an integer 1..64 MiB
 *   POST {BASE_URL}/speedtest/upload             body read and discarded → {BYTES, MS}
 *
 * Anyone who can reach the entrance can call these, so every test is bounded: it moves at most
 * maxBytes, lasts at most maxMs, at most maxRunning anonymous tests run at once, and one client address
 * runs maxRunningPerIp at a time. Everything else gets a 4xx.
 *
 * A slot must not be cheap to hold: a test that moves fewer than minBytesPerSecond over any
 * rateWindowMs is cut. The rate is counted per window, not averaged from the start, because a client
 * that stops reading has first let the kernel's socket buffers (megabytes on a fast link) fill, which
 * would keep its average above any floor for minutes. And boxes must be able to measure even while
 * strangers hold every slot: a box that proves its enrolled key, with the same signed headers as at
 * the WebSocket upgrade (EnrolmentGate.authenticateUpgrade, a single-use nonce each time), gets one of
 * boxSlots reserved slots, or an anonymous one when those are taken. Credentials that fail are refused
 * with the gate's status and ERROR_CODE, never taken for an anonymous client.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../shared/src/log.js';
import { remoteIpOf } from '../../shared/src/peer-address.js';
import type { TrustedProxies } from '../../shared/src/peer-address.js';
import type { UpgradeAuth } from './enrolment/gate.js';
import { sendJson } from './respond.js';

export interface SpeedTestLimits {
  /** Largest download or upload, in bytes. */
  maxBytes: number;
  /** Tests running at once, all anonymous clients together. */
  maxRunning: number;
  /** Tests running at once from one client address (anonymous clients; and enrolled boxes, among themselves). */
  maxRunningPerIp: number;
  /** Further tests reserved for enrolled boxes, which anonymous clients never take. */
  boxSlots: number;
  /** The floor: a test moving fewer bytes than this per second over a window is cut. */
  minBytesPerSecond: number;
  /** The window the floor is counted over; the first window is also the grace period a test starts with. */
  rateWindowMs: number;
  /** A test still running after this is cut off and its connection destroyed. */
  maxMs: number;
  /** Told to refused clients in `retry-after`. */
  retryAfterSeconds: number;
}

export const SPEEDTEST_LIMITS: Readonly<SpeedTestLimits> = Object.freeze({
  maxBytes: 64 * 1024 * 1024,
  maxRunning: 4,
  maxRunningPerIp: 1,
  // As many as the anonymous ones: a fleet's boxes queue up for them (the agent retries on 429), and
  // the entrance's uplink, not its memory, bounds how many tests are worth running at once.
  boxSlots: 4,
  // 64 kbit/s over 5 s windows. Far below any link a box could serve video on (the lowest HLS
  // renditions need a few hundred kbit/s, and the agent gives up on a test slower than
  // BANDWIDTH_TEST_MB in 60 s), so only a stalled or deliberately slow client ever meets it; a slot then
  // costs its holder a steady 64 kbit/s instead of nothing. Windows of a few seconds ride out a
  // congested moment, and a stalled test is cut 5 to 10 s after it stops moving.
  minBytesPerSecond: 8_000,
  rateWindowMs: 5_000,
  // Twice the client's default timeout, so only a stalled or abusive client is cut off.
  maxMs: 120_000,
  retryAfterSeconds: 30,
});

/**
 * Downloads repeat this one random buffer. At 1 MiB it is far beyond deflate's 32 KiB window, so a
 * compressing proxy or modem in the path cannot shrink the stream and inflate the measured speed.
 */
const PATTERN_BYTES = 1024 * 1024;
let pattern: Buffer | undefined;
const patternBuffer = (): Buffer => (pattern ??= randomBytes(PATTERN_BYTES));

export interface SpeedTestDeps {
  /** BASE_URL without its trailing slash ('' for the root). */
  basePath: string;
  /** Proxies whose forwarded headers name the client (the entrance's TRUSTED_PROXIES). */
  trustedProxies: TrustedProxies;
  log: Logger;
  /** Tests shrink these; the entrance uses SPEEDTEST_LIMITS. */
  limits?: Partial<SpeedTestLimits>;
  /**
   * Who is asking, from the signed headers of the WebSocket upgrade (the entrance passes
   * EnrolmentGate.authenticateUpgrade): a box ID for an enrolled box, none for an anonymous client, or
   * a refusal. Without it every client is anonymous.
   */
  authenticate?(req: IncomingMessage, remoteIp: string): Promise<UpgradeAuth>;
}

export interface SpeedTestEndpoint {
  /** Whether the path is the speed test's; http.ts routes those here before its GET-only check. */
  owns(pathname: string): boolean;
  handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void>;
}

/** A set of slots, with at most `perKey` held under one key (a client address). */
class Slots {
  private readonly byKey = new Map<string, number>();
  private running = 0;

  constructor(
    private readonly size: number,
    private readonly perKey: number,
  ) {}

  /** Why a slot cannot be taken now, or undefined when it can. */
  busy(key: string): string | undefined {
    if ((this.byKey.get(key) ?? 0) >= this.perKey) return 'a speed test from this address is already running';
    if (this.running >= this.size) return 'too many speed tests running';
    return undefined;
  }

  /** Take a slot (check busy() first); the function gives it back, once. */
  take(key: string): () => void {
    this.running++;
    this.byKey.set(key, (this.byKey.get(key) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      const left = (this.byKey.get(key) ?? 1) - 1;
      if (left > 0) this.byKey.set(key, left);
      else this.byKey.delete(key); // so the map only ever holds addresses with a test running
    };
  }
}

/** Counts what a test moved, for the floor rate. */
interface Progress {
  moved(bytes: number): void;
}

export function createSpeedTest(deps: SpeedTestDeps): SpeedTestEndpoint {
  const limits: SpeedTestLimits = { ...SPEEDTEST_LIMITS, ...deps.limits };
  const { log } = deps;
  const downloadPath = `${deps.basePath}/speedtest/download`;
  const uploadPath = `${deps.basePath}/speedtest/upload`;
  const anonymous = new Slots(limits.maxRunning, limits.maxRunningPerIp);
  const boxes = new Slots(limits.boxSlots, limits.maxRunningPerIp);
  const floorBytes = (limits.minBytesPerSecond * limits.rateWindowMs) / 1000;

  /**
   * Take a slot for this test, or answer 429 (busy) or the gate's refusal. The slot is given back when
   * the response finishes or closes; until then the test is cut at maxMs, or as soon as it moves fewer
   * than floorBytes in a window.
   */
  async function admit(req: IncomingMessage, res: ServerResponse): Promise<Progress | undefined> {
    const ip = remoteIpOf(req, deps.trustedProxies);
    const auth: UpgradeAuth = deps.authenticate ? await deps.authenticate(req, ip) : { ok: true };
    if (!auth.ok) {
      log.info({ ip, box: req.headers['x-dandelion-box'], code: auth.code, reason: auth.message }, 'speed test refused: credentials');
      refuse(req, res, auth.status, auth.message, {}, auth.code);
      return undefined;
    }
    if (req.socket.destroyed) return undefined; // gone while its credentials were checked: 'close' has passed
    const box = auth.boxId;
    // A box takes a reserved slot first, then an anonymous one: boxes never wait for strangers.
    const slots = box !== undefined && boxes.busy(ip) === undefined ? boxes : anonymous;
    const why = slots.busy(ip);
    if (why !== undefined) {
      log.debug({ ip, box }, 'speed test refused: busy');
      refuse(req, res, 429, `${why}; retry later`, { 'retry-after': String(limits.retryAfterSeconds) });
      return undefined;
    }
    const giveBack = slots.take(ip);
    const deadline = setTimeout(() => {
      log.warn({ ip, box, maxMs: limits.maxMs }, 'speed test cut off at its deadline');
      res.destroy();
    }, limits.maxMs);
    let moved = 0;
    let movedBefore = 0;
    let windowStart = performance.now();
    const checkRate = (): void => {
      const now = performance.now();
      // A timer this late means the entrance itself was stalled (a long GC, a loaded host) and could
      // neither write nor read: that window says nothing about the client, so it is not judged.
      const judged = now - windowStart < 1.5 * limits.rateWindowMs;
      if (judged && moved - movedBefore < floorBytes) {
        log.warn({ ip, box, bytes: moved - movedBefore, windowMs: limits.rateWindowMs, minBytesPerSecond: limits.minBytesPerSecond }, 'speed test cut off: slower than the floor');
        res.destroy();
        return;
      }
      movedBefore = moved;
      windowStart = now;
      rateTimer = setTimeout(checkRate, limits.rateWindowMs);
    };
    let rateTimer = setTimeout(checkRate, limits.rateWindowMs);
    const release = (): void => {
      clearTimeout(deadline);
      clearTimeout(rateTimer);
      giveBack();
    };
    // 'finish' is the last byte handed to the kernel; 'close' also covers a client that went away.
    res.once('finish', release);
    res.once('close', release);
    return { moved: (bytes) => (moved += bytes) };
  }

  async function download(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (req.method !== 'GET') return refuse(req, res, 405, 'use GET', { allow: 'GET' });
    const bytes = parseBytes(url.searchParams.getAll('bytes'), limits.maxBytes);
    if (bytes === undefined) return refuse(req, res, 400, `bytes must be given once, as an integer from 1 to ${limits.maxBytes}`);
    const progress = await admit(req, res);
    if (!progress) return;
    const started = performance.now();
    res.once('finish', () => log.debug({ bytes, ms: Math.round(performance.now() - started) }, 'speed test download sent'));
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes, 'cache-control': 'no-store' });
    writeBytes(res, bytes, progress);
  }

  async function upload(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') return refuse(req, res, 405, 'use POST', { allow: 'POST' });
    // Node's parser has already refused a content-length that is not a plain number, and bytes past
    // a declared length are not body to it (they start a next request, which it refuses). A body
    // without a length (chunked), or one that never ends, is counted below and cut off as it arrives.
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > limits.maxBytes) return refuse(req, res, 413, `the body must be at most ${limits.maxBytes} bytes`);
    const progress = await admit(req, res);
    if (!progress) return;
    const started = performance.now();
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      progress.moved(chunk.length);
      if (bytes > limits.maxBytes && !res.headersSent) {
        req.pause();
        refuse(req, res, 413, `the body must be at most ${limits.maxBytes} bytes`);
      }
    });
    req.on('end', () => {
      if (res.headersSent) return;
      const ms = Math.round(performance.now() - started);
      log.debug({ bytes, ms }, 'speed test upload received');
      sendJson(res, 200, { BYTES: bytes, MS: ms });
    });
    req.on('error', () => {
      /* intentional: the client went away mid-body; 'close' on the response gives its slot back */
    });
  }

  return {
    owns: (pathname) => pathname === downloadPath || pathname === uploadPath,
    handle(req, res, url) {
      return url.pathname === downloadPath ? download(req, res, url) : upload(req, res);
    },
  };
}

/** The one `bytes` parameter as an integer 1..max, or undefined. Plain digits only: no 1e3, 0x10, 1.0 or leading zeros. */
function parseBytes(values: string[], max: number): number | undefined {
  if (values.length !== 1 || !/^[1-9][0-9]{0,15}$/.test(values[0] as string)) return undefined;
  const n = Number(values[0]);
  return n <= max ? n : undefined;
}

/**
 * Bytes handed to the socket in one write. Progress is counted as they are written, so the writes are
 * small beside a window's floor (40 kB by default): a client reading just above the floor still
 * shows progress in every window instead of one large write every few windows.
 */
const WRITE_BYTES = 16 * 1024;

/** Write `total` bytes of the pattern, waiting for 'drain' whenever the socket's buffer is full. */
function writeBytes(res: ServerResponse, total: number, progress: Progress): void {
  const source = patternBuffer();
  let left = total;
  let offset = 0;
  const pump = (): void => {
    while (left > 0) {
      if (res.destroyed) return; // the client went away or the test was cut: 'drain' will never come
      const n = Math.min(left, WRITE_BYTES, source.length - offset);
      const chunk = source.subarray(offset, offset + n);
      offset = (offset + n) % source.length;
      left -= n;
      progress.moved(n);
      if (!res.write(chunk)) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

/**
 * Answer a refusal and close the connection. Without the close, Node would read (and discard) the
 * rest of a refused upload to keep the connection alive, which is the very traffic being refused.
 */
function refuse(req: IncomingMessage, res: ServerResponse, status: number, error: string, headers: Record<string, string> = {}, code?: string): void {
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader('connection', 'close');
  res.once('finish', () => req.socket.destroy());
  sendJson(res, status, code === undefined ? { ERROR: error } : { ERROR: error, ERROR_CODE: code });
}
