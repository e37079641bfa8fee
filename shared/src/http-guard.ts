/**
 * The last-resort guard every HTTP server of every role is built with. Whatever bytes a stranger sends,
 * the worst outcome is a refusal on that one socket, never an exception that ends the process:
 *   - a request-target that does not parse is answered 400 before any handler runs, so handlers get a
 *     URL and never call `new URL(req.url)` themselves (it throws for targets such as `//` or `http://[`);
 *   - bytes Node's parser refuses (`clientError`) get a 400/408/431 and the socket is destroyed;
 *   - a handler that throws, or whose promise rejects, is logged; the peer gets 500 when nothing was
 *     sent yet, else its socket is destroyed;
 *   - an upgraded socket has an `error` listener from its first moment (Node removes its own when it
 *     hands the socket over, and an unheard reset would be an uncaught exception);
 *   - a server error after listening (EMFILE on accept) is logged, not thrown.
 * Every refusal has the same JSON body, {ERROR, ERROR_CODE}, whatever refused it.
 */
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from './log.js';
import type { ErrorCode } from './protocol/errors.js';

/** What every HTTP refusal carries, as every WebSocket ERROR reply does. */
export interface Refusal {
  ERROR: string;
  ERROR_CODE: ErrorCode;
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, url: URL) => void | Promise<void>;

export interface GuardedServerOptions {
  log: Logger;
  /** A certificate chain and its key (PEM): the server speaks HTTPS instead of HTTP. */
  tls?: TlsPair;
  onRequest: RequestHandler;
  /** WebSocket upgrades; without it an upgrade request is answered as a plain request. */
  onUpgrade?: UpgradeHandler;
}

/** The origin a parsed request-target is placed under; only its path and query are ever read. */
const PLACEHOLDER_ORIGIN = 'http://request.invalid';
/** A refused socket that does not read our answer is cut after this long. */
const REFUSAL_LINGER_MS = 5_000;
/** At most this much of a request-target goes into a log line. */
const LOGGED_TARGET_CHARS = 200;

export const BAD_TARGET: Refusal = {
  ERROR: 'the request-target cannot be parsed; send a path such as /dandelion/',
  ERROR_CODE: 'E_BAD_REQUEST',
};

/**
 * The URL a request-target names, or undefined when it is not one (RFC 9112 section 3.2): origin-form
 * (`/path?query`) or absolute-form (`http://host/path`, as sent to proxies). An origin-form target is
 * read as a path even when it starts with `//`, which `new URL(target, base)` would take for a host.
 */
export function parseRequestTarget(target: string | undefined): URL | undefined {
  if (target === undefined || target === '') return undefined;
  try {
    if (target.startsWith('/')) return new URL(`${PLACEHOLDER_ORIGIN}${target}`);
    if (!/^https?:\/\//i.test(target)) return undefined; // asterisk-form, authority-form, anything else
    return new URL(target);
  } catch {
    return undefined; // intentional: an unparseable target is the caller's 400
  }
}

/** Answer a plain request with `status` and a refusal body. */
export function sendRefusal(res: ServerResponse, status: number, body: Refusal, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

/**
 * Refuse on a raw socket (an upgrade, or bytes that were never a request): status line, JSON body, then
 * the socket is closed once the answer is written, or cut when the peer does not read it. The one
 * function every upgrade refusal of every role goes through, like ws's abortHandshake.
 */
export function refuseUpgrade(socket: Duplex, status: number, body: Refusal, headers: Record<string, string> = {}): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const text = JSON.stringify(body);
  const lines = [
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(text)}`,
    'cache-control: no-store',
    'connection: close',
  ];
  socket.once('finish', () => socket.destroy());
  const linger = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
  socket.once('close', () => clearTimeout(linger)); // so a flood of refusals holds no sockets for long
  socket.end(`${lines.join('\r\n')}\r\n\r\n${text}`);
}

export interface TlsPair {
  cert: string;
  key: string;
}

/** An http.Server (an https.Server with `tls`) whose handlers run under the guard described at the top of this file. */
export function createGuardedServer(opts: GuardedServerOptions): http.Server {
  const server = opts.tls ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }) : http.createServer();
  server.on('request', guardRequests(opts.log, opts.onRequest));
  if (opts.onUpgrade) server.on('upgrade', guardUpgrades(opts.log, opts.onUpgrade));
  // CONNECT is no upgrade we serve; without a listener Node would drop the socket without a word.
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => undefined); // intentional: the socket is refused and destroyed just below
    refuseUpgrade(socket, 405, { ERROR: 'CONNECT is not served here', ERROR_CODE: 'E_BAD_REQUEST' });
  });
  server.on('clientError', refuseMalformed(opts.log));
  // Before listening, listenOn reports errors (port taken) to its caller; afterwards nobody else would.
  server.once('listening', () => {
    server.on('error', (err: Error) => opts.log.error({ err }, 'server error'));
  });
  return server;
}

function loggedTarget(req: IncomingMessage): string | undefined {
  return req.url?.slice(0, LOGGED_TARGET_CHARS);
}

function guardRequests(log: Logger, onRequest: RequestHandler) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const url = parseRequestTarget(req.url);
    if (!url) {
      log.debug({ peer: req.socket.remoteAddress, target: loggedTarget(req) }, 'request-target refused');
      return sendRefusal(res, 400, BAD_TARGET, { connection: 'close' });
    }
    contain(
      () => onRequest(req, res, url),
      (err) => {
        log.error({ err, method: req.method, target: loggedTarget(req) }, 'request handler failed');
        if (!res.headersSent) sendRefusal(res, 500, { ERROR: 'internal error; try again', ERROR_CODE: 'E_INTERNAL' });
        else res.destroy();
      },
    );
  };
}

function guardUpgrades(log: Logger, onUpgrade: UpgradeHandler) {
  return (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    logSocketErrors(socket, log, req.socket.remoteAddress);
    const url = parseRequestTarget(req.url);
    if (!url) {
      log.debug({ peer: req.socket.remoteAddress, target: loggedTarget(req) }, 'upgrade request-target refused');
      return refuseUpgrade(socket, 400, BAD_TARGET);
    }
    contain(
      () => onUpgrade(req, socket, head, url),
      (err) => {
        log.error({ err, target: loggedTarget(req) }, 'upgrade handler failed');
        socket.destroy();
      },
    );
  };
}

/**
 * The upgraded socket's error listener lives as long as the socket. Built here, apart from the upgrade's
 * own closures, so it holds only the address: a listener made inside guardUpgrades would share its scope
 * and keep every socket's request (headers and all) and parsed URL alive for the socket's life.
 */
function logSocketErrors(socket: Duplex, log: Logger, peer: string | undefined): void {
  socket.on('error', (err: Error) => log.debug({ err: err.message, peer }, 'upgrade socket error'));
}

/** Bytes Node's parser refused: one refusal with the same JSON body, unless an answer is already under way. */
function refuseMalformed(log: Logger) {
  return (err: NodeJS.ErrnoException, socket: Duplex): void => {
    // A response already under way cannot be followed by another one; a reset peer reads nothing.
    if (err.code === 'ECONNRESET' || answerUnderWay(socket) || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    log.debug({ code: err.code, status }, 'malformed request refused');
    refuseUpgrade(socket, status, { ERROR: `the request is not valid HTTP/1.1 (${err.code ?? 'unreadable'})`, ERROR_CODE: 'E_BAD_REQUEST' });
  };
}

/**
 * Whether a response on this socket has sent its headers. Node keeps the response being written as the
 * socket's `_httpMessage`: not public API, but the only way to know, and read here without trusting its shape.
 */
function answerUnderWay(socket: Duplex): boolean {
  const message: unknown = Reflect.get(socket, '_httpMessage');
  return message instanceof http.ServerResponse && message.headersSent;
}

/** Run `fn`; a synchronous throw or a rejected promise goes to `onError`, never further. */
function contain(fn: () => void | Promise<void>, onError: (err: unknown) => void): void {
  try {
    const result = fn();
    if (result instanceof Promise) result.catch(onError);
  } catch (err) {
    onError(err);
  }
}
