/**
 * POST /report {PATH, URL}: a viewer's page says the box copy at URL of file PATH did not match the
 * publisher's SHA-256. A viewer's word quarantines nothing: the publisher audits that copy itself
 * (audit/auditor.ts) and only its own fetch decides. Only a file the publisher knows and a URL it listed
 * for that file are taken (anything else is 4xx), and reports are rate limited per address and in all,
 * so nobody can make the publisher fetch from boxes without end.
 */
import type { FastifyInstance } from 'fastify';
import { HttpError, methodNotAllowed, notFound } from '../../../../shared/src/http-app.js';
import { socketAddressOf } from '../../../../shared/src/peer-address.js';
import { Limits } from '../../../../shared/src/protocol/fields.js';
import { isRecord, normaliseFilePath } from '../../../../shared/src/protocol/index.js';
import type { FileIndex } from '../../upload/file-index.js';
import { sendJson } from '../reply.js';

/** Reports one address may send a minute, and all addresses together. */
const PER_ADDRESS_PER_MINUTE = 10;
const ALL_PER_MINUTE = 120;
/** Addresses whose counts are kept; beyond, the count starts over (a flood of addresses meets ALL_PER_MINUTE). */
const MAX_ADDRESSES = 10_000;
const BODY_LIMIT = 4_096;

export interface ReportDeps {
  index: FileIndex;
  /** Audit `boxId`'s copy of `path` now. */
  auditBox(boxId: string, path: string): void;
  now?: () => number;
}

const badRequest = (message: string): HttpError => new HttpError(400, 'E_FORMAT', message);

export function reportRoutes(app: FastifyInstance, deps: ReportDeps): void {
  const limit = minuteLimits(deps.now ?? Date.now);
  app.get('/report', async () => {
    throw methodNotAllowed('POST', 'a report is POSTed');
  });
  app.post('/report', { bodyLimit: BODY_LIMIT }, async (request, reply) => {
    const { path, url } = reportOf(request.body);
    const boxId = deps.index.replicas(path).find((r) => r.url === url)?.boxId;
    if (deps.index.get(path) === undefined) throw notFound('the publisher has no such file');
    if (boxId === undefined) throw notFound('the publisher lists no box copy of this file at that URL');
    if (!limit(socketAddressOf(request.raw))) throw new HttpError(429, 'E_RATE', 'too many reports; try again in a minute', { 'retry-after': '60' });
    deps.auditBox(boxId, path);
    return sendJson(reply, 202, { BOX: boxId, PATH: path, AUDIT: 'started' });
  });
}

/** The report's file and URL, or a 400 saying what is wrong with the body. */
function reportOf(body: unknown): { path: string; url: string } {
  if (!isRecord(body)) throw badRequest('the body must be a JSON object {PATH, URL}');
  const { PATH, URL: url } = body;
  if (typeof PATH !== 'string' || PATH === '' || PATH.length > Limits.urlChars) throw badRequest('PATH must be the file\'s path');
  if (typeof url !== 'string' || url === '' || url.length > Limits.urlChars) throw badRequest('URL must be the address the copy came from');
  return { path: normaliseFilePath(PATH), url };
}

/** Fixed one-minute windows: true while `address` and everyone together are within their share. */
function minuteLimits(now: () => number): (address: string) => boolean {
  let windowStart = 0;
  let all = 0;
  const counts = new Map<string, number>();
  return (address) => {
    const minute = Math.floor(now() / 60_000);
    if (minute !== windowStart || counts.size > MAX_ADDRESSES) {
      windowStart = minute;
      all = 0;
      counts.clear();
    }
    const mine = (counts.get(address) ?? 0) + 1;
    counts.set(address, mine);
    all += 1;
    return mine <= PER_ADDRESS_PER_MINUTE && all <= ALL_PER_MINUTE;
  };
}
