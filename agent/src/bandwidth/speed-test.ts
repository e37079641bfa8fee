/**
 * The box's capacity test against its entrance (the endpoint is entrance/src/speedtest/routes.ts): download
 * N bytes, then upload N bytes, each timed here from the request to the last byte or the reply.
 * A failure is thrown as a SpeedTestError naming the direction, the URL and what went wrong; the
 * caller logs it and keeps the figures it had.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isRecord, messageOf, parseJsonSafe } from '../../../shared/src/protocol/index.js';

export interface Capacity {
  /** Measured upload, box → entrance, in Mbit/s. */
  upMbit: number;
  /** Measured download, entrance → box, in Mbit/s. */
  downMbit: number;
  /** When the test finished, in ms since the epoch. */
  measuredAt: number;
}

export type SpeedTestErrorCode =
  | 'E_BUSY' // the entrance answered 429: other tests are running; retryAfterMs says when to try again
  | 'E_REFUSED' // the entrance answered another non-200 status (bad size, wrong path…)
  | 'E_REPLY' // the entrance sent the wrong number of bytes or an unreadable reply
  | 'E_NETWORK' // connecting or transferring failed
  | 'E_TIMEOUT' // one direction took longer than timeoutMs
  | 'E_ABORTED'; // the caller's signal fired

export class SpeedTestError extends Error {
  override name = 'SpeedTestError';
  constructor(
    readonly code: SpeedTestErrorCode,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

const DEFAULT_TIMEOUT_MS = 60_000;
/** Replies (JSON or a refusal) are tiny; never buffer more than this of one. */
const MAX_REPLY_BYTES = 64 * 1024;
/** Uploads repeat one random buffer, larger than deflate's window, so no link can compress them. */
const PATTERN_BYTES = 1024 * 1024;
let pattern: Buffer | undefined;
const patternBuffer = (): Buffer => (pattern ??= randomBytes(PATTERN_BYTES));

/** The HTTP scheme of the speed test for each scheme an entrance URL may have. */
const HTTP_SCHEME_OF = new Map([['ws:', 'http:'], ['wss:', 'https:'], ['http:', 'http:'], ['https:', 'https:']]);

/**
 * The speed test's base URL (ending in /speedtest/) for an entrance socket URL: the scheme becomes
 * http(s) and the socket's own path segment (WEBSOCKET_URL, `ws` by default) is replaced, so
 * ws://h:7071/dandelion/ws/ → http://h:7071/dandelion/speedtest/ and wss://… → https://….
 * An http(s) URL of the socket is taken the same way.
 */
export function speedTestBaseUrl(entranceWsUrl: string): URL {
  let url: URL;
  try {
    url = new URL(entranceWsUrl);
  } catch {
    throw new TypeError(`not an entrance URL: ${JSON.stringify(entranceWsUrl)}`);
  }
  const scheme = HTTP_SCHEME_OF.get(url.protocol);
  if (!scheme) throw new TypeError(`not an entrance URL (ws, wss, http or https): ${entranceWsUrl}`);
  const segments = url.pathname.split('/').filter((s) => s !== '');
  segments.pop(); // the socket's own segment; what is left is BASE_URL
  // Built as a string: URL refuses to change a special scheme such as ws: into http: in place.
  const host = url.port ? `${url.hostname}:${url.port}` : url.hostname;
  return new URL(`${scheme}//${host}/${segments.map((s) => `${s}/`).join('')}speedtest/`);
}

/**
 * Measure the link between this box and the entrance whose socket URL is given: download, then
 * upload, `bytes` each way. Each direction must finish within `timeoutMs` (default 60 s); `signal`
 * aborts the whole measurement. `authHeaders` gives the signed headers of the WebSocket upgrade
 * (PeerCredentials.upgradeHeaders, a fresh single-use challenge each call): with them an enrolled box
 * gets the entrance's reserved slots; they are fetched before each direction's clock starts. Throws SpeedTestError; a `bytes` that is not an integer ≥ 1 is a
 * RangeError and a URL that is not ws(s)/http(s) a TypeError (the entrance caps `bytes` at 64 MiB
 * and refuses more, which is E_REFUSED).
 */
export async function measureCapacity(
  entranceWsUrl: string,
  opts: {
    bytes: number;
    timeoutMs?: number;
    signal?: AbortSignal;
    authHeaders?: () => Promise<Record<string, string> | undefined>;
    /**
     * Bytes the box's interface has sent so far (its kernel counter), when known. The upload then counts
     * everything the box sent meanwhile, not the test's bytes alone: a box serving viewers during its
     * test shares the link with them and would otherwise measure only what they left over.
     */
    sentBytes?: () => Promise<number | undefined>;
  },
): Promise<Capacity> {
  const { bytes, timeoutMs = DEFAULT_TIMEOUT_MS, signal } = opts;
  if (!Number.isSafeInteger(bytes) || bytes < 1) throw new RangeError(`bytes must be an integer of at least 1, not ${bytes}`);
  const base = speedTestBaseUrl(entranceWsUrl);
  const downUrl = new URL(`download?bytes=${bytes}`, base);
  const upUrl = new URL('upload', base);
  const auth = async (what: string, url: URL): Promise<Record<string, string>> => {
    try {
      return (await opts.authHeaders?.()) ?? {};
    } catch (err) {
      throw new SpeedTestError('E_NETWORK', `speed test ${what} (${url.href}) failed: no challenge to sign: ${messageOf(err)}`);
    }
  };
  const downAuth = await auth('download', downUrl);
  const downMs = await timed('download', downUrl, timeoutMs, signal, (s) => download(downUrl, bytes, s, downAuth));
  const upAuth = await auth('upload', upUrl);
  const sentBefore = await opts.sentBytes?.();
  const upMs = await timed('upload', upUrl, timeoutMs, signal, (s) => upload(upUrl, bytes, s, upAuth));
  const sentAfter = await opts.sentBytes?.();
  return { downMbit: mbitPerSecond(bytes, downMs), upMbit: mbitPerSecond(uploadedBytes(bytes, sentBefore, sentAfter), upMs), measuredAt: Date.now() };
}

/**
 * The bytes an upload counts: what the interface sent meanwhile (viewers sharing the link), never less
 * than the test's own; only the test's own when the counter is unknown or went back (interface restarted).
 */
export function uploadedBytes(testBytes: number, sentBefore: number | undefined, sentAfter: number | undefined): number {
  const sent = sentBefore !== undefined && sentAfter !== undefined && sentAfter > sentBefore ? sentAfter - sentBefore : 0;
  return Math.max(testBytes, sent);
}

export function mbitPerSecond(bytes: number, ms: number): number {
  // performance.now() has microsecond resolution; the floor keeps a freak 0 ms from giving Infinity.
  return (bytes * 8) / (Math.max(ms, 0.001) / 1000) / 1e6;
}

/** Run one direction under its own deadline and the caller's signal; every failure becomes a SpeedTestError. */
async function timed(what: string, url: URL, timeoutMs: number, outer: AbortSignal | undefined, run: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const fail = (code: SpeedTestErrorCode, detail: string, retryAfterMs?: number): SpeedTestError =>
    new SpeedTestError(code, `speed test ${what} (${url.href}) failed: ${detail}`, retryAfterMs);
  if (outer?.aborted) throw fail('E_ABORTED', 'aborted by the caller');
  const ctl = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ctl.abort();
  }, timeoutMs);
  const onAbort = (): void => ctl.abort();
  outer?.addEventListener('abort', onAbort, { once: true });
  try {
    return await run(ctl.signal);
  } catch (err) {
    if (timedOut) throw fail('E_TIMEOUT', `timed out after ${timeoutMs} ms`);
    if (outer?.aborted) throw fail('E_ABORTED', 'aborted by the caller');
    if (err instanceof SpeedTestError) throw fail(err.code, err.message, err.retryAfterMs);
    throw fail('E_NETWORK', messageOf(err));
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onAbort);
  }
}

async function download(url: URL, bytes: number, signal: AbortSignal, auth: Record<string, string>): Promise<number> {
  const started = performance.now();
  const res = await send(url, { method: 'GET', headers: auth, signal });
  await expectOk(res);
  let received = 0;
  for await (const chunk of res) {
    received += bytesOf(chunk).length;
    if (received > bytes) break; // a misbehaving server must not keep us reading; breaking closes it
  }
  if (received !== bytes) throw new SpeedTestError('E_REPLY', `received ${received > bytes ? 'more than' : received} of ${bytes} bytes`);
  return performance.now() - started;
}

async function upload(url: URL, bytes: number, signal: AbortSignal, auth: Record<string, string>): Promise<number> {
  const started = performance.now();
  const headers = { ...auth, 'content-type': 'application/octet-stream', 'content-length': bytes };
  const res = await send(url, { method: 'POST', headers, signal }, Readable.from(chunksOf(bytes)));
  await expectOk(res);
  const reply = parseReply(await readCapped(res));
  if (reply?.BYTES !== bytes) throw new SpeedTestError('E_REPLY', `the entrance counted ${String(reply?.BYTES)} of ${bytes} bytes`);
  return performance.now() - started;
}

/** The request's response; a body is streamed with backpressure, never held in memory whole. */
function send(url: URL, options: { method: string; headers?: OutgoingHttpHeaders; signal: AbortSignal }, body?: Readable): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    // agent: false: a fresh connection for each direction, so no pooled socket skews the timing or outlives the test.
    const req = (url.protocol === 'https:' ? https : http).request(url, { ...options, agent: false });
    req.once('response', resolve);
    req.once('error', reject);
    // A refusal can arrive, and the entrance close the socket, before the body is sent: then the
    // response has already settled the promise and this later rejection changes nothing.
    if (body) pipeline(body, req).catch(reject);
    else req.end();
  });
}

function* chunksOf(total: number): Generator<Buffer> {
  const source = patternBuffer();
  for (let left = total; left > 0; left -= source.length) yield left >= source.length ? source : source.subarray(0, left);
}

async function expectOk(res: IncomingMessage): Promise<void> {
  if (res.statusCode === 200) return;
  // The entrance closes the connection after a refusal; an unreadable body just leaves the status.
  const text = await readCapped(res).catch(() => '');
  const error = parseReply(text)?.ERROR;
  const reason = typeof error === 'string' ? `: ${error}` : '';
  if (res.statusCode === 429) {
    const seconds = /^\d+$/.test(res.headers['retry-after'] ?? '') ? Number(res.headers['retry-after']) : undefined;
    const retry = seconds === undefined ? '' : `; retry after ${seconds} s`;
    throw new SpeedTestError('E_BUSY', `the entrance is busy (429${reason})${retry}`, seconds === undefined ? undefined : seconds * 1000);
  }
  throw new SpeedTestError('E_REFUSED', `the entrance answered ${res.statusCode ?? '?'}${reason}`);
}

async function readCapped(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res) {
    const bytes = bytesOf(chunk);
    size += bytes.length;
    if (size > MAX_REPLY_BYTES) throw new SpeedTestError('E_REPLY', `reply longer than ${MAX_REPLY_BYTES} bytes`);
    chunks.push(bytes);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The reply's JSON object, or undefined when it is not one. */
function parseReply(text: string): Record<string, unknown> | undefined {
  try {
    const v = parseJsonSafe(text);
    return isRecord(v) ? v : undefined;
  } catch {
    return undefined; // intentional: the caller reports what it expected instead
  }
}

/** A chunk of a response body (Buffers, as no encoding is ever set on it). */
function bytesOf(chunk: unknown): Buffer {
  if (!Buffer.isBuffer(chunk)) throw new SpeedTestError('E_REPLY', 'the reply body is not bytes');
  return chunk;
}
