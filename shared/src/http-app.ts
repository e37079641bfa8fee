/**
 * The HTTP layer of the entrance and the publisher: a fastify instance (routing, cookies, forms, schemas)
 * whose server is http-guard.ts's guarded server, so malformed bytes and unparseable request-targets are
 * refused before fastify sees them, and WebSocket upgrades stay with `ws` through the guard's onUpgrade.
 *
 * Every refusal leaves through one error handler, with the body every WebSocket ERROR reply has,
 * {ERROR, ERROR_CODE}: an HttpError says its own status; a ProtocolError's code picks the status from
 * STATUS_OF_CODE; fastify's own errors (a schema that does not match, a body over its limit) are mapped
 * by their status; a path whose percent-encoding does not decode is 400, or 404 where paths name files
 * (undecodablePath); anything else is logged and answered 500 E_INTERNAL.
 *
 * The agent does not use this module: loading fastify costs about 19 MiB of RSS (63.5 MiB against
 * 44.2 MiB for a bare node:http server, measured on Node 20), more than a small Pi can spare for its
 * two routes; it has http-router.ts instead. Nothing the agent imports may import this file.
 */
import Fastify from 'fastify';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifySchemaValidationError } from 'fastify';
import type http from 'node:http';
import { createGuardedServer } from './http-guard.js';
import type { Refusal, TlsPair, UpgradeHandler } from './http-guard.js';
import { listenOn } from './listen.js';
import type { ListenKeys } from './listen.js';
import type { Logger } from './log.js';
import { isProtocolError } from './protocol/errors.js';
import type { ErrorCode } from './protocol/errors.js';

/** A refusal a route handler throws: the status, code and words the peer gets, and any extra headers. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** A refusal for a path or name nothing here answers: 404 E_NOT_FOUND. */
export function notFound(message = 'not found'): HttpError {
  return new HttpError(404, 'E_NOT_FOUND', message);
}

/** A refusal for a method the path does not take: 405 E_BAD_REQUEST with `Allow` naming those it does. */
export function methodNotAllowed(allow: string, message = 'method not allowed', headers: Record<string, string> = {}): HttpError {
  return new HttpError(405, 'E_BAD_REQUEST', message, { ...headers, allow });
}

/** The HTTP status a protocol error code ends a request with, when no HttpError says otherwise. */
export const STATUS_OF_CODE: Record<ErrorCode, number> = {
  E_FORMAT: 400,
  E_ID: 400,
  E_TYPE: 400,
  E_COMMAND: 400,
  E_TOO_BIG: 413,
  E_BINARY: 400,
  E_PATH: 400,
  E_HANDSHAKE: 400,
  E_DISK_FULL: 507,
  E_QUOTA: 507,
  E_AUTH: 401,
  E_TOKEN: 403,
  E_REVOKED: 403,
  E_PENDING: 409,
  E_ADDRESS: 400,
  E_SHUTTING_DOWN: 503,
  E_BUSY: 503,
  E_RATE: 429,
  E_BAD_REQUEST: 400,
  E_NOT_FOUND: 404,
  E_FORBIDDEN: 403,
  E_BAD_CSR: 400,
  E_ACME: 502,
  E_NO_DOMAIN: 404,
  E_INTERNAL: 500,
};

/** The code of a refusal fastify itself raised, by its status (a body too large, a media type it cannot parse...). */
function codeOfStatus(status: number): ErrorCode {
  if (status === 404) return 'E_NOT_FOUND';
  if (status === 413) return 'E_TOO_BIG';
  if (status === 415) return 'E_FORMAT';
  if (status === 403) return 'E_FORBIDDEN';
  if (status === 429) return 'E_RATE';
  if (status === 503) return 'E_SHUTTING_DOWN';
  return status >= 500 ? 'E_INTERNAL' : 'E_BAD_REQUEST';
}

export interface RefusalAnswer {
  status: number;
  body: Refusal;
  headers: Record<string, string>;
}

const INTERNAL: Refusal = { ERROR: 'internal error; try again', ERROR_CODE: 'E_INTERNAL' };

/** What the peer is told for an error a handler threw: the one mapping of errors to HTTP answers. */
export function refusalFor(err: unknown): RefusalAnswer {
  if (err instanceof HttpError) return { status: err.status, body: { ERROR: err.message, ERROR_CODE: err.code }, headers: err.headers };
  if (isProtocolError(err)) return { status: STATUS_OF_CODE[err.code], body: { ERROR: err.message, ERROR_CODE: err.code }, headers: {} };
  if (isFastifyError(err)) {
    if (err.validation) return { status: 400, body: { ERROR: err.message, ERROR_CODE: 'E_FORMAT' }, headers: {} };
    const status = err.statusCode ?? 500;
    // The rest of a body over its limit is never read: the connection closes once the answer is out.
    if (status === 413) return { status, body: { ERROR: err.message, ERROR_CODE: 'E_TOO_BIG' }, headers: { connection: 'close' } };
    if (status >= 400 && status < 500) return { status, body: { ERROR: err.message, ERROR_CODE: codeOfStatus(status) }, headers: {} };
  }
  return { status: 500, body: INTERNAL, headers: {} };
}

function isFastifyError(err: unknown): err is FastifyError {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' && err.code.startsWith('FST_');
}

/** Answer with a refusal body: what the error handler sends, and what a route sends to refuse without throwing. */
export function sendRefusalReply(reply: FastifyReply, answer: RefusalAnswer): FastifyReply {
  return reply
    .code(answer.status)
    .headers({ ...answer.headers, 'cache-control': 'no-store' })
    .type('application/json; charset=utf-8')
    .send(answer.body);
}

/**
 * What a schema refusal says: the first problem, named by the field a client sent (`sort must be one
 * of ID, CPU`), not by ajv's path into the request (`querystring/sort must be equal to one of the
 * allowed values`).
 */
export function describeSchemaErrors(errors: FastifySchemaValidationError[], where: string): Error {
  const [first] = errors;
  if (!first) return new Error(`the ${where} does not match its schema`);
  const field = first.instancePath.replace(/^\//, '').replaceAll('/', '.');
  const { allowedValues, missingProperty } = first.params;
  if (first.keyword === 'required' && typeof missingProperty === 'string') return new Error(`${missingProperty} is required in the ${where}`);
  // An empty value in an enum stands for "the default" and is not worth naming.
  if (first.keyword === 'enum' && Array.isArray(allowedValues)) return new Error(`${field} must be one of ${allowedValues.filter((v) => v !== '').join(', ')}`);
  return new Error(`${field || `the ${where}`} ${first.message ?? 'does not match its schema'}`);
}

export interface HttpAppOptions {
  log: Logger;
  /** WebSocket upgrades, answered by `ws` beside fastify (fastify does not see them). */
  onUpgrade?: UpgradeHandler;
  /** A certificate chain and key (PEM): serve HTTPS instead of HTTP. */
  tls?: TlsPair;
  /** Largest request body fastify parses (bytes); fastify's default is 1 MiB. */
  bodyLimit?: number;
  /**
   * The answer to a path whose percent-encoding does not decode (`/a%zz`), which no route can match:
   * 'bad-request' (400 E_BAD_REQUEST, the default), or 'not-found' (404 E_NOT_FOUND) where paths name
   * files, so a name that cannot be decoded is one more name nothing has.
   */
  undecodablePath?: 'bad-request' | 'not-found';
  /** The error a request no route takes is refused with; without it, 404 E_NOT_FOUND. */
  unrouted?: (request: FastifyRequest) => Error;
}

const UNDECODABLE: Record<NonNullable<HttpAppOptions['undecodablePath']>, RefusalAnswer> = {
  'bad-request': { status: 400, body: { ERROR: 'the path holds a percent-encoding that does not decode', ERROR_CODE: 'E_BAD_REQUEST' }, headers: {} },
  'not-found': { status: 404, body: { ERROR: 'not found', ERROR_CODE: 'E_NOT_FOUND' }, headers: {} },
};

export interface HttpApp {
  app: FastifyInstance;
  server: http.Server;
  /** Register routes first; then listen. A failure names the config keys (ListenError). */
  listen(host: string, port: number, keys: ListenKeys): Promise<number>;
  /** Stop taking requests: fastify's onClose hooks, then the server and every connection it holds. */
  close(): Promise<void>;
}

export function createHttpApp(opts: HttpAppOptions): HttpApp {
  const { log, onUpgrade } = opts;
  let server: http.Server | undefined;
  const app = Fastify({
    serverFactory(handler) {
      const onRequest = (req: http.IncomingMessage, res: http.ServerResponse, url: URL): void => {
        // Route on the target as the guard read it: dot segments resolved, and a proxy's absolute-form
        // target (`GET http://host/metrics`) reduced to its path, which fastify's router would not match.
        req.url = `${url.pathname}${url.search}`;
        handler(req, res);
      };
      server = createGuardedServer({ log, onRequest, onUpgrade, ...(opts.tls ? { tls: opts.tls } : {}) });
      return server;
    },
    // The guarded server answers malformed bytes already; a second answer on the same socket would be garbage.
    clientErrorHandler: () => undefined,
    // Requests are logged where they mean something (a refusal, a login), not once each in a second format.
    logger: false,
    // A schema says what a value is; a number sent where a string belongs is refused, not converted.
    ajv: { customOptions: { coerceTypes: false } },
    schemaErrorFormatter: describeSchemaErrors,
    bodyLimit: opts.bodyLimit,
    // What fastify refuses before routing (a path that does not decode, a parameter over its length)
    // leaves with the same body as every other refusal, not fastify's own.
    frameworkErrors(err: FastifyError, _req: FastifyRequest, reply: FastifyReply) {
      return sendRefusalReply(reply, err.code === 'FST_ERR_BAD_URL' ? UNDECODABLE[opts.undecodablePath ?? 'bad-request'] : refusalFor(err));
    },
  });
  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const answer = refusalFor(err);
    if (answer.status >= 500) log.error({ err, method: req.method, target: req.url.slice(0, 200) }, 'request handler failed');
    else log.debug({ status: answer.status, code: answer.body.ERROR_CODE, target: req.url.slice(0, 200) }, 'request refused');
    if (reply.sent || reply.raw.headersSent) return void reply.raw.destroy();
    // A refusal that closes the connection does so as soon as it is written: Node would otherwise read
    // (and discard) the rest of the refused body to keep the connection, which is the traffic refused.
    if (answer.headers.connection === 'close') reply.raw.once('finish', () => req.raw.socket.destroy());
    return sendRefusalReply(reply, answer);
  });
  app.setNotFoundHandler((req: FastifyRequest, reply: FastifyReply) =>
    sendRefusalReply(reply, opts.unrouted ? refusalFor(opts.unrouted(req)) : { status: 404, body: { ERROR: 'not found', ERROR_CODE: 'E_NOT_FOUND' }, headers: {} }),
  );
  if (!server) throw new Error('fastify did not build its server through serverFactory');
  const httpServer = server;

  return {
    app,
    server: httpServer,
    async listen(host, port, keys) {
      await app.ready();
      return listenOn(httpServer, host, port, keys);
    },
    async close() {
      const closed = httpServer.listening ? new Promise<void>((resolve) => httpServer.close(() => resolve())) : Promise.resolve();
      httpServer.closeAllConnections();
      await app.close();
      await closed;
    },
  };
}
