/**
 * The capacity ("speed") test boxes run against their entrance (the client is
 * agent/src/bandwidth/speed-test.ts):
 *
 *   GET  {BASE_URL}/speedtest/download?bytes=N   N incompressible bytes, N an integer 1..64 MiB
 *   POST {BASE_URL}/speedtest/upload             body read and discarded → {BYTES, MS}
 *
 * Every test is bounded: it moves at most maxBytes, lasts at most maxMs, and a slot must not be cheap
 * to hold (watch.ts); who gets a slot is admission.ts's. Everything else gets a 4xx. Both directions
 * are measured on the raw socket, as the bytes are written or arrive: a download is written after
 * reply.hijack(), and an upload's body is never parsed, only counted.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { HttpError } from '../../../shared/src/http-app.js';
import type { Logger } from '../../../shared/src/log.js';
import type { TrustedProxies } from '../../../shared/src/peer-address.js';
import type { UpgradeAuth } from '../enrolment/gate.js';
import { ignoreBodies } from '../http/json-body.js';
import { refuseOtherMethods } from '../http/refusals.js';
import { CLOSE, createAdmission } from './admission.js';
import { SPEEDTEST_LIMITS } from './limits.js';
import type { SpeedTestLimits } from './limits.js';
import { countUpload, writeBytes } from './transfer.js';

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

/** Plain digits only: no 1e3, 0x10, 1.0 or leading zeros; given once (a repeated one is an array). */
const DOWNLOAD_QUERY = {
  type: 'object',
  required: ['bytes'],
  properties: { bytes: { type: 'string', pattern: '^[1-9][0-9]{0,15}$' } },
} as const;

export function speedTestRoutes(deps: SpeedTestDeps) {
  const limits: SpeedTestLimits = { ...SPEEDTEST_LIMITS, ...deps.limits };
  const { log } = deps;
  const admit = createAdmission({ limits, log, trustedProxies: deps.trustedProxies, ...(deps.authenticate ? { authenticate: deps.authenticate } : {}) });
  const tooBig = (): HttpError => new HttpError(413, 'E_TOO_BIG', `the body must be at most ${limits.maxBytes} bytes`, CLOSE);

  async function download(request: FastifyRequest<{ Querystring: { bytes: string } }>, reply: FastifyReply): Promise<void> {
    const bytes = Number(request.query.bytes);
    if (bytes > limits.maxBytes) throw new HttpError(400, 'E_FORMAT', `bytes must be given once, as an integer from 1 to ${limits.maxBytes}`, CLOSE);
    const progress = await admit(request, reply);
    reply.hijack(); // written straight to the socket, so each write counts as progress
    if (!progress) return;
    const res = reply.raw;
    const started = performance.now();
    res.once('finish', () => log.debug({ bytes, ms: Math.round(performance.now() - started) }, 'speed test download sent'));
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes, 'cache-control': 'no-store' });
    writeBytes(res, bytes, progress);
  }

  async function upload(request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const declared = request.headers['content-length'];
    if (declared !== undefined && Number(declared) > limits.maxBytes) throw tooBig();
    const progress = await admit(request, reply);
    if (!progress) return reply.hijack();
    const started = performance.now();
    const end = await countUpload(request.raw, limits.maxBytes, progress);
    if (end === 'too big') throw tooBig();
    if (end === 'gone') return reply.hijack(); // nobody to answer
    const ms = Math.round(performance.now() - started);
    log.debug({ bytes: end.bytes, ms }, 'speed test upload received');
    return reply.header('cache-control', 'no-store').send({ BYTES: end.bytes, MS: ms });
  }

  return async (app: FastifyInstance): Promise<void> => {
    ignoreBodies(app); // the upload's body is counted from the raw request, never parsed
    const downloadPath = `${deps.basePath}/speedtest/download`;
    const uploadPath = `${deps.basePath}/speedtest/upload`;
    app.get(downloadPath, { exposeHeadRoute: false, schema: { querystring: DOWNLOAD_QUERY } }, download);
    refuseOtherMethods(app, downloadPath, ['GET'], { message: 'use GET', headers: CLOSE });
    app.post(uploadPath, upload);
    refuseOtherMethods(app, uploadPath, ['POST'], { message: 'use POST', headers: CLOSE });
  };
}
