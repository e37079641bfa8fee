/**
 * GET /metrics at the root path, whatever BASE_URL is (Prometheus scrapes it there): the token check of
 * metrics.ts first, then prom-client's text written straight to the socket, as every role serves it.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../../../shared/src/log.js';
import { METRICS_PATH, sendMetrics } from '../../../shared/src/metrics.js';
import type { EntranceMetrics } from '../metrics.js';
import { refuseOtherMethods } from './refusals.js';

export function metricsRoutes(metrics: EntranceMetrics, log: Logger) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get(METRICS_PATH, async (request, reply) => {
      await metrics.authorize(request);
      reply.hijack(); // sendMetrics answers on the raw response, HEAD included
      await sendMetrics(metrics.registry, request.raw, reply.raw, log);
    });
    refuseOtherMethods(app, METRICS_PATH, ['GET', 'HEAD']);
  };
}
