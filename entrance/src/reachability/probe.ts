/**
 * One probe of one port (targets.ts says which), ending in a ProbeOutcome: whether the port answered as
 * the box, and if not, how it failed (refused, timed out, no route, something else answered), which is
 * what tells a forwarding problem from a firewall or a routing one. Answers are read up to a small limit:
 * a box's status page is a few hundred bytes, and the entrance must not hold what a box chooses to send.
 */
import tls from 'node:tls';
import { isRecord, parseJsonSafe } from '../../../shared/src/protocol/json.js';
import type { ProbeTarget } from './targets.js';
import type { ProbeOutcome } from './verdict.js';

export const PROBE_TIMEOUT_MS = 3_000;
const MAX_ANSWER_BYTES = 64 * 1024;

/** Never throws: whatever goes wrong is an outcome. */
export async function probe(target: ProbeTarget, boxId: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<ProbeOutcome> {
  try {
    return await (target.kind === 'http' ? probeHttp(target.url, target.strict, boxId, timeoutMs) : probeTls(target.host, target.port, target.servername, timeoutMs));
  } catch (err) {
    return failureOf(err);
  }
}

async function probeHttp(url: string, strict: boolean, boxId: string, timeoutMs: number): Promise<ProbeOutcome> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
    const page = jsonOrUndefined(await boundedText(res));
    const named = isRecord(page) && typeof page.ID === 'string' ? page.ID : undefined;
    if (named !== undefined) return named === boxId && (res.ok || !strict) ? 'ok' : 'wrong-answer';
    return strict ? 'wrong-answer' : 'ok';
  } catch (err) {
    return failureOf(err);
  }
}

function jsonOrUndefined(text: string): unknown {
  try {
    return parseJsonSafe(text);
  } catch {
    return undefined;
  }
}

/** The body up to MAX_ANSWER_BYTES ('' beyond it: no page of a box is that long), the rest not read. */
async function boundedText(res: Response): Promise<string> {
  if (res.body === null) return '';
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for await (const chunk of res.body) {
    bytes += chunk.byteLength;
    if (bytes > MAX_ANSWER_BYTES) return '';
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Whether a TLS handshake completes; the certificate is not judged here (the box's HTTPS is checked by its own slice). */
function probeTls(host: string, port: number, servername: string | undefined, timeoutMs: number): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    let connected = false;
    const socket = tls.connect({ host, port, rejectUnauthorized: false, ...(servername === undefined ? {} : { servername }) });
    const done = (outcome: ProbeOutcome): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => done(connected ? 'tls-failed' : 'timeout'), timeoutMs);
    socket.once('connect', () => (connected = true));
    socket.once('secureConnect', () => done('ok'));
    socket.once('error', (err) => done(connected ? 'tls-failed' : failureOf(err)));
  });
}

/** A failed connection, by its error code: fetch wraps the socket's error as its cause. */
function failureOf(err: unknown): ProbeOutcome {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return 'timeout';
  const code = codeOf(err) ?? codeOf(err instanceof Error ? err.cause : undefined);
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ENETUNREACH' || code === 'EHOSTUNREACH') return 'no-route';
  if (code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return 'timeout';
  return 'wrong-answer';
}

function codeOf(err: unknown): string | undefined {
  return isRecord(err) && typeof err.code === 'string' ? err.code : undefined;
}
