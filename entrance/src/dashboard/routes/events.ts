/** GET /api/events: the live events (live-events.ts) as a server-sent event stream on the raw response. */
import type { FastifyInstance } from 'fastify';
import type { LiveEvents } from '../live-events.js';

export function eventsApi(live: LiveEvents) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get('/api/events', { exposeHeadRoute: false }, async (_request, reply) => {
      // The stream outlives this handler; the headers fastify holds (the dashboard's policy) go with it.
      const headers = Object.fromEntries(Object.entries(reply.getHeaders()).map(([k, v]) => [k, String(v)]));
      reply.hijack();
      await live.subscribe(reply.raw, headers);
    });
  };
}
