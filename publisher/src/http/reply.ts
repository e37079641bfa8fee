/** How the publisher's web server answers JSON: never cached. */
import type { FastifyReply } from 'fastify';

/** A JSON answer (also a refusal that says more than ERROR and ERROR_CODE); never cached, as it changes by the second. */
export function sendJson(reply: FastifyReply, status: number, body: Record<string, unknown>): FastifyReply {
  return reply.code(status).header('cache-control', 'no-store').send(body);
}
