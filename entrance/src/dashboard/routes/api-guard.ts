/**
 * Who may use /api/: every API route sits behind requireOperator (a session cookie or a bearer token),
 * and every route that changes something also behind requireCsrf. Both run as onRequest hooks, so a
 * refused request's body is never read.
 */
import type { FastifyRequest } from 'fastify';
import { HttpError } from '../../../../shared/src/http-app.js';
import { sameSecret } from '../auth.js';
import type { Auth, Principal } from '../auth.js';

const principals = new WeakMap<FastifyRequest, Principal>();

/** The caller requireOperator let through. */
export function principalOf(request: FastifyRequest): Principal {
  const who = principals.get(request);
  if (!who) throw new Error(`${request.url}: an API route registered outside requireOperator`);
  return who;
}

export function requireOperator(auth: Auth) {
  return async (request: FastifyRequest): Promise<void> => {
    const who = await auth.authenticate(request);
    if (who === 'busy') throw new HttpError(429, 'E_BUSY', 'too many token checks at once; try again', { 'retry-after': '1' });
    if (!who) throw new HttpError(401, 'E_AUTH', 'log in at /dashboard/ or send Authorization: Bearer <token>');
    principals.set(request, who);
  };
}

/** A logged-in operator's change must repeat the session's CSRF token in X-CSRF-Token; a bearer token has no cookie to forge. */
export async function requireCsrf(request: FastifyRequest): Promise<void> {
  const { csrf } = principalOf(request);
  if (csrf !== undefined && !sameSecret(String(request.headers['x-csrf-token'] ?? ''), csrf)) {
    throw new HttpError(403, 'E_FORBIDDEN', 'missing or wrong X-CSRF-Token');
  }
}
