/** How the publisher's web server answers: JSON that is never cached, and the 404 its routes refuse with. */
import type { FastifyReply } from 'fastify';
import { HttpError } from '../../../shared/src/http-app.js';

/** A refusal for a name nothing here has; the error handler answers it as {ERROR, ERROR_CODE: E_NOT_FOUND}. */
export function notFound(message = 'not found'): HttpError {
  return new HttpError(404, 'E_NOT_FOUND', message);
}

/** A JSON answer (also a refusal that says more than ERROR and ERROR_CODE); never cached, as it changes by the second. */
export function sendJson(reply: FastifyReply, status: number, body: Record<string, unknown>): FastifyReply {
  return reply.code(status).header('cache-control', 'no-store').send(body);
}
