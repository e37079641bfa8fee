/**
 * The entrance's HTTP refusals that more than one router gives, as errors for the one error handler
 * (shared/src/http-app.ts), so each carries its status, ERROR and ERROR_CODE the same way everywhere.
 */
import type { FastifyInstance, HTTPMethods } from 'fastify';
import { methodNotAllowed, notFound } from '../../../shared/src/http-app.js';
import type { HttpError } from '../../../shared/src/http-app.js';

/**
 * A request no route takes: GET and HEAD find nothing (404); any other method is refused (405), since
 * only the forms and the endpoints that say so take anything but GET and HEAD.
 */
export function unrouted(method: string): HttpError {
  return method === 'GET' || method === 'HEAD' ? notFound() : methodNotAllowed('GET, HEAD');
}

/** Answer every method but `allowed` at `url` with 405 and an Allow header naming them. */
export function refuseOtherMethods(app: FastifyInstance, url: string, allowed: readonly string[], opts: { message?: string; headers?: Record<string, string> } = {}): void {
  // supportedMethods is fastify's own list of the methods its router takes, typed only as strings.
  const others = app.supportedMethods.filter((m) => !allowed.includes(m)) as HTTPMethods[];
  const refusal = (): never => {
    throw methodNotAllowed(allowed.join(', '), opts.message, opts.headers);
  };
  app.route({ method: others, url, exposeHeadRoute: false, handler: refusal });
}
