/**
 * GET <BASE_URL>/releases/<version>/<arch>: a stored release's binary, for boxes taking an update offer
 * (docs/updates.md). Any entrance of the fleet serves any release (they share the Redis). One byte range per
 * request (Range: bytes=a-b, a-, -n) answers 206, so a box resumes an interrupted download; a range past the
 * end answers 416. The bytes come from Redis in GETRANGE chunks as the socket drains: never the whole
 * binary in memory, and a slow box only slows its own download.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { HttpError, notFound } from '../../../shared/src/http-app.js';
import { refuseOtherMethods } from '../http/refusals.js';
import type { ReleaseStore } from './release-store.js';

/** The path of a release below BASE_URL; the offer's URL ends so. */
export function releasePath(basePath: string, version: string, arch: string): string {
  return `${basePath}/releases/${encodeURIComponent(version)}/${encodeURIComponent(arch)}`;
}

/** Which bytes of `size` a Range header asks for: a single range, 'whole' without one (or one we do not take), 'unsatisfiable'. */
export function byteRangeOf(header: string | undefined, size: number): { start: number; end: number } | 'whole' | 'unsatisfiable' {
  if (header === undefined) return 'whole';
  const m = /^bytes=(\d{0,15})-(\d{0,15})$/.exec(header.trim());
  // Several ranges, or another unit: RFC 9110 lets a server answer with the whole representation.
  if (!m || (m[1] === '' && m[2] === '')) return 'whole';
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

export function releaseRoutes(store: ReleaseStore, basePath: string) {
  const url = `${basePath}/releases/:version/:arch`;
  return async (app: FastifyInstance): Promise<void> => {
    app.get<{ Params: { version: string; arch: string } }>(url, { exposeHeadRoute: false }, async (request, reply) => {
      const { version, arch } = request.params;
      const release = await store.get(version, arch);
      if (release === undefined) throw notFound(`no release ${version} for ${arch} here`);
      const range = byteRangeOf(request.headers.range, release.SIZE);
      if (range === 'unsatisfiable') {
        throw new HttpError(416, 'E_BAD_REQUEST', `the range is outside the ${release.SIZE} bytes of this release`, { 'content-range': `bytes */${release.SIZE}` });
      }
      const { start, end } = range === 'whole' ? { start: 0, end: release.SIZE - 1 } : range;
      reply.header('accept-ranges', 'bytes').header('content-type', 'application/octet-stream').header('content-length', String(end - start + 1));
      // What the box checks the bytes against; the signed manifest is in its offer.
      reply.header('x-dandelion-sha256', release.SHA256);
      if (range !== 'whole') reply.code(206).header('content-range', `bytes ${start}-${end}/${release.SIZE}`);
      return reply.send(Readable.from(store.read(version, arch, start, end), { objectMode: false }));
    });
    refuseOtherMethods(app, url, ['GET']);
  };
}
