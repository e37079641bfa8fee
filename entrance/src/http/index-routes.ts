/** The entrance's own pages under BASE_URL: the index (JSON for scripts, HTML for a browser) and a health probe. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { escapeHtml } from '../../../shared/src/html.js';
import { buildInfo } from '../../../shared/src/version.js';
import type { EntranceServices } from '../context.js';

export function indexRoutes(services: EntranceServices, basePath: string) {
  async function index(request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const info = {
      ID: services.id,
      TYPE: 'ENTRANCE',
      URL: services.ownInfo().URL,
      VERSION: buildInfo().version,
      COMMIT: buildInfo().commit,
      BOXES_ONLINE: await services.registry.countOnline(),
      ENTRANCE_URLS: services.entranceUrls(),
    };
    reply.header('cache-control', 'no-store');
    if (!(request.headers.accept ?? '').includes('text/html')) return info;
    const rows = Object.entries(info)
      .map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(Array.isArray(v) ? v.join(', ') : String(v))}</td></tr>`)
      .join('');
    return reply
      .type('text/html; charset=utf-8')
      .send(`<!doctype html><html><head><meta charset="utf-8"><title>Dandelion entrance</title></head><body><h1>Dandelion entrance</h1><table>${rows}</table></body></html>`);
  }

  /** 503 with OK false when Redis does not answer, so a load balancer takes this entrance out. */
  async function healthz(_request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    reply.header('cache-control', 'no-store');
    try {
      await services.redis.ping();
      return { OK: true };
    } catch (err) {
      return reply.code(503).send({ OK: false, ERROR: `redis: ${err instanceof Error ? err.message : String(err)}`, ERROR_CODE: 'E_INTERNAL' });
    }
  }

  return async (app: FastifyInstance): Promise<void> => {
    // BASE_URL with and without its trailing slash; at the root only '/'.
    for (const url of new Set([`${basePath}/`, basePath || '/'])) app.get(url, index);
    app.get(`${basePath}/healthz`, healthz);
  };
}
