/**
 * Where a file of the watched folder can be fetched:
 *   GET /files/<path>           JSON: the box URLs holding it ({FILE_PATH, URLS}), 404 when no box does
 *                               and the publisher has not seen it
 *   GET /r/<path>[?exclude=h]   302 to the box holding it that suits this viewer best (not host h, the
 *                               one that just failed it), else to the origin; never cached
 * A request over HTTPS gets boxes' https:// URLs only (secure-replicas.ts).
 */
import type { FastifyInstance } from 'fastify';
import { parseRequestTarget } from '../../../../shared/src/http-guard.js';
import { socketAddressOf } from '../../../../shared/src/peer-address.js';
import { encodeFilePath } from '../../../../shared/src/viewer-url.js';
import type { FileIndex } from '../../upload/file-index.js';
import { filePathOf } from '../file-path.js';
import type { FileRoute } from '../file-path.js';
import { sendJson } from '../reply.js';
import { replicasForViewer, viewerIsSecure } from '../secure-replicas.js';
import type { SecureReplicaDeps } from '../secure-replicas.js';
import type { Viewers } from '../viewers.js';

export interface ReplicaDeps extends SecureReplicaDeps {
  index: FileIndex;
  viewers: Viewers;
}

export function replicaRoutes(app: FastifyInstance, deps: ReplicaDeps): void {
  const { index, viewers } = deps;
  app.get<FileRoute>('/files/*', async (request, reply) => {
    const file = filePathOf(request);
    const urls = replicasForViewer(index.replicas(file), file, viewerIsSecure(request.raw), deps).map((r) => r.url);
    if (urls.length === 0 && !index.get(file)) return sendJson(reply, 404, { ERROR: 'no box holds this file', ERROR_CODE: 'E_NOT_FOUND', FILE_PATH: file, URLS: [] });
    return sendJson(reply, 200, { FILE_PATH: file, URLS: urls });
  });

  app.get<FileRoute>('/r/*', async (request, reply) => {
    const file = filePathOf(request);
    // The host of the box that just failed this viewer (the viewer page's retry), first value if repeated.
    const exclude = parseRequestTarget(request.url)?.searchParams.get('exclude') ?? null;
    const best = viewers
      .order(replicasForViewer(index.replicas(file), file, viewerIsSecure(request.raw), deps), socketAddressOf(request.raw))
      .find((r) => exclude === null || new URL(r.url).host !== exclude);
    return reply
      .code(302)
      .headers({ location: best?.url ?? `/origin/${encodeFilePath(file)}`, 'cache-control': 'no-cache' })
      .send();
  });
}

