/** GET /stats: JSON of what the origin served, and the files and boxes the publisher knows right now. */
import type { FastifyInstance } from 'fastify';
import type { FileIndex } from '../../upload/file-index.js';
import { sendJson } from '../reply.js';
import type { OriginStats } from './origin.js';

export interface StatsDeps {
  publisherId: string;
  origin: OriginStats;
  index: FileIndex;
  /** Boxes with a ready socket. */
  boxCount(): number;
}

export function statsRoutes(app: FastifyInstance, deps: StatsDeps): void {
  const { origin } = deps;
  app.get('/stats', async (_request, reply) =>
    sendJson(reply, 200, {
      ID: deps.publisherId,
      ORIGIN_BYTES: origin.bytes,
      ORIGIN_SEGMENT_BYTES: origin.segmentBytes,
      ORIGIN_REQUESTS: origin.requests,
      FILES: deps.index.size,
      BOXES: deps.boxCount(),
    }),
  );
}
