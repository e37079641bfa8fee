/**
 * A table of path → method → handler for the agent's small HTTP surfaces (the box's GET /dandelion/ and
 * every role's Prometheus /metrics server), run under http-guard's createGuardedServer so a stranger's
 * bytes still cost at most one socket. What the table does not hold is refused with the same JSON body
 * as every other refusal: an unknown path 404 E_NOT_FOUND, a known path with another method 405
 * E_BAD_REQUEST with an `allow` header listing the methods it has.
 *
 * Why not fastify, as the entrance and the publisher use: measured on this machine, loading fastify 5
 * costs the agent about 19 MiB of RSS (63.5 MiB against 44.2 MiB for a bare node:http server), and the
 * box agent's idle RSS must stay within 1.25 × a bare Node process on a 1 GB Pi. Two routes do not need it.
 */
import type { RequestHandler } from './http-guard.js';
import { sendRefusal } from './http-guard.js';
import type { Refusal } from './http-guard.js';

/** A method name as Node reports it (upper case), or '*' for a handler that answers every method. */
export type RouteMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'OPTIONS' | '*';

/** Path (exact, query ignored) → method → handler. */
export type RouteTable = Readonly<Record<string, Partial<Record<RouteMethod, RequestHandler>>>>;

export interface RouterOptions {
  /** The body of the 404 for a path the table lacks; says what the server does serve. */
  notFound?: Refusal;
}

const NOT_FOUND: Refusal = { ERROR: 'not found', ERROR_CODE: 'E_NOT_FOUND' };
const WRONG_METHOD: Refusal = { ERROR: 'method not allowed', ERROR_CODE: 'E_BAD_REQUEST' };

/** One request handler (for createGuardedServer's onRequest) that dispatches through `table`. */
export function createRouter(table: RouteTable, opts: RouterOptions = {}): RequestHandler {
  // A Map, not the object: a path such as /__proto__ or /constructor must not find a prototype's member.
  const routes = new Map(Object.entries(table).map(([path, methods]) => [path, new Map(Object.entries(methods))]));
  return (req, res, url) => {
    const methods = routes.get(url.pathname);
    if (!methods) return sendRefusal(res, 404, opts.notFound ?? NOT_FOUND);
    const handler = methods.get(req.method ?? '') ?? methods.get('*');
    if (!handler) return sendRefusal(res, 405, WRONG_METHOD, { allow: [...methods.keys()].join(', ') });
    return handler(req, res, url);
  };
}
