/**
 * The capacity ("speed") test boxes run against their entrance (the client is
 * agent/src/bandwidth/speed-test.ts):
 *
 *   GET  {BASE_URL}/speedtest/download?bytes=N   N incompressible bytes, N an integer 1..64 MiB
 *   POST {BASE_URL}/speedtest/upload             body read and discarded → {BYTES, MS}
 *
 * Anyone who can reach the entrance can call these, so every test is bounded: it moves at most
 * maxBytes, lasts at most maxMs (so a stalled client cannot keep its slot), at most maxRunning tests
 * run at once, and one client address runs maxRunningPerIp at a time. Everything else gets a 4xx.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../shared/src/log.js';
import { remoteIpOf } from '../../shared/src/peer-address.js';
import type { TrustedProxies } from '../../shared/src/peer-address.js';
import { sendJson } from './respond.js';

export interface SpeedTestLimits {
  /** Largest download or upload, in bytes. */
  maxBytes: number;
  /** Tests running at once, all clients together. */
  maxRunning: number;
  /** Tests running at once from one client address. */
  maxRunningPerIp: number;
  /** A test still running after this is cut off and its connection destroyed. */
  maxMs: number;
  /** Told to refused clients in `retry-after`. */
  retryAfterSeconds: number;
}

export const SPEEDTEST_LIMITS: Readonly<SpeedTestLimits> = Object.freeze({
  maxBytes: 64 * 1024 * 1024,
  maxRunning: 4,
  maxRunningPerIp: 1,
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
}

export interface SpeedTestEndpoint {
  /** Whether the path is the speed test's; http.ts routes those here before its GET-only check. */
  owns(pathname: string): boolean;
  handle(req: IncomingMessage, res: ServerResponse, url: URL): void;
}

export function createSpeedTest(deps: SpeedTestDeps): SpeedTestEndpoint {
  const limits: SpeedTestLimits = { ...SPEEDTEST_LIMITS, ...deps.limits };
  const { log } = deps;
  const downloadPath = `${deps.basePath}/speedtest/download`;
  const uploadPath = `${deps.basePath}/speedtest/upload`;
  const runningByIp = new Map<string, number>();
  let running = 0;

  /** Take a slot for this test, or answer 429. The slot is given back when the response finishes or closes. */
  function admit(req: IncomingMessage, res: ServerResponse): boolean {
    const ip = remoteIpOf(req, deps.trustedProxies);
    const mine = runningByIp.get(ip) ?? 0;
    if (running >= limits.maxRunning || mine >= limits.maxRunningPerIp) {
      log.debug({ ip, running }, 'speed test refused: busy');
      const why = mine >= limits.maxRunningPerIp ? 'a speed test from this address is already running' : 'too many speed tests running';
      refuse(req, res, 429, `${why}; retry later`, { 'retry-after': String(limits.retryAfterSeconds) });
      return false;
    }
    running++;
    runningByIp.set(ip, mine + 1);
    const deadline = setTimeout(() => {
      log.warn({ ip, maxMs: limits.maxMs }, 'speed test cut off at its deadline');
      res.destroy();
    }, limits.maxMs);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      clearTimeout(deadline);
      running--;
      const left = (runningByIp.get(ip) ?? 1) - 1;
      if (left > 0) runningByIp.set(ip, left);
      else runningByIp.delete(ip); // so the map only ever holds addresses with a test running
    };
    // 'finish' is the last byte handed to the kernel; 'close' also covers a client that went away.
    res.once('finish', release);
    res.once('close', release);
    return true;
  }

  function download(req: IncomingMessage, res: ServerResponse, url: URL): void {
    if (req.method !== 'GET') return refuse(req, res, 405, 'use GET', { allow: 'GET' });
    const bytes = parseBytes(url.searchParams.getAll('bytes'), limits.maxBytes);
    if (bytes === undefined) return refuse(req, res, 400, `bytes must be given once, as an integer from 1 to ${limits.maxBytes}`);
    if (!admit(req, res)) return;
    const started = performance.now();
    res.once('finish', () => log.debug({ bytes, ms: Math.round(performance.now() - started) }, 'speed test download sent'));
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes, 'cache-control': 'no-store' });
    writeBytes(res, bytes);
  }

  function upload(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'POST') return refuse(req, res, 405, 'use POST', { allow: 'POST' });
    // Node's parser has already refused a content-length that is not a plain number, and bytes past
    // a declared length are not body to it (they start a next request, which it refuses). A body
    // without a length (chunked), or one that never ends, is counted below and cut off as it arrives.
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > limits.maxBytes) return refuse(req, res, 413, `the body must be at most ${limits.maxBytes} bytes`);
    if (!admit(req, res)) return;
    const started = performance.now();
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
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
      if (url.pathname === downloadPath) download(req, res, url);
      else upload(req, res);
    },
  };
}

/** The one `bytes` parameter as an integer 1..max, or undefined. Plain digits only: no 1e3, 0x10, 1.0 or leading zeros. */
function parseBytes(values: string[], max: number): number | undefined {
  if (values.length !== 1 || !/^[1-9][0-9]{0,15}$/.test(values[0] as string)) return undefined;
  const n = Number(values[0]);
  return n <= max ? n : undefined;
}

/** Write `total` bytes of the pattern, waiting for 'drain' whenever the socket's buffer is full. */
function writeBytes(res: ServerResponse, total: number): void {
  const source = patternBuffer();
  let left = total;
  const pump = (): void => {
    while (left > 0) {
      if (res.destroyed) return; // the client went away or the deadline struck: 'drain' will never come
      const n = Math.min(left, source.length);
      left -= n;
      if (!res.write(n === source.length ? source : source.subarray(0, n))) {
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
function refuse(req: IncomingMessage, res: ServerResponse, status: number, error: string, headers: Record<string, string> = {}): void {
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader('connection', 'close');
  res.once('finish', () => req.socket.destroy());
  sendJson(res, status, { ERROR: error });
}
