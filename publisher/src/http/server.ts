/**
 * The publisher's web server for viewers, on PUBLISHER_HTTP_IP:PUBLISHER_HTTP_PORT (one module under
 * routes/ for each job):
 *   GET /                      the viewer page (?src=<path>.m3u8), and its scripts under /static/ (page.ts)
 *   GET /hls/<path>.m3u8       the playlist rewritten so segments come from boxes (playlist.ts)
 *   GET /origin/<path>         the original file from the watched folder (origin.ts)
 *   GET /files/<path>          JSON: the box URLs holding the file (replicas.ts)
 *   GET /r/<path>[?exclude=h]  302 to the best box holding it (not host h), else to the origin (replicas.ts)
 *   GET /stats                 JSON: bytes the origin served, files and boxes known (stats.ts)
 *   GET /hashes/<path>.m3u8    JSON: the SHA-256 of each file the playlist names (hashes.ts)
 *   POST /report               a viewer's page names a box copy that did not match; audited (report.ts)
 * Everything else is read-only: any other method is 405. Every answer, refusals too, allows any origin, so a
 * player on another site can use the streams.
 */
import fastifyCookie from '@fastify/cookie';
import type { FastifyRequest } from 'fastify';
import type http from 'node:http';
import path from 'node:path';
import { createHttpApp, methodNotAllowed } from '../../../shared/src/http-app.js';
import type { Logger } from '../../../shared/src/log.js';
import type { TlsPair } from '../../../shared/src/http-guard.js';
import type { FileIndex } from '../upload/file-index.js';
import { createOriginStats, originRoutes } from './routes/origin.js';
import type { OriginStats } from './routes/origin.js';
import { hashRoutes } from './routes/hashes.js';
import { pageRoutes } from './routes/page.js';
import { playlistRoutes } from './routes/playlist.js';
import { replicaRoutes } from './routes/replicas.js';
import { reportRoutes } from './routes/report.js';
import { statsRoutes } from './routes/stats.js';
import type { Viewers } from './viewers.js';

export interface WebDeps {
  publisherId: string;
  watchDirectory: string;
  index: FileIndex;
  viewers: Viewers;
  replicasWanted: number;
  holdBackMs: number;
  log: Logger;
  boxCount(): number;
  /** A viewer reported a box copy that did not match: audit it. */
  auditBox(boxId: string, path: string): void;
  /** The HTTPS_URL a box announced (for viewers over HTTPS), if any. */
  httpsBaseOf(boxId: string): string | undefined;
  /** VIEWER_TLS_*: serve HTTPS instead of HTTP. */
  tls?: TlsPair;
}

export interface WebServer {
  server: http.Server;
  /** Whether it serves HTTPS (VIEWER_TLS_*). */
  secure: boolean;
  origin: OriginStats;
  listen(host: string, port: number): Promise<number>;
  stop(): Promise<void>;
}

const LISTEN_KEYS = { port: 'PUBLISHER_HTTP_PORT', host: 'PUBLISHER_HTTP_IP' };

export function createWebServer(deps: WebDeps): WebServer {
  const { log, index, viewers } = deps;
  const origin = createOriginStats();
  const root = path.resolve(deps.watchDirectory);
  // Paths name files here: one whose percent-encoding does not decode names a file nobody has (404).
  const web = createHttpApp({ log, undecodablePath: 'not-found', ...(deps.tls ? { tls: deps.tls } : {}) });
  // Set on the raw response before fastify sees the request, so every answer carries it: the files
  // /origin/ writes itself, and what fastify refuses before any of its hooks runs.
  web.server.prependListener('request', (_req: http.IncomingMessage, res: http.ServerResponse) => res.setHeader('access-control-allow-origin', '*'));
  const { app } = web;
  void app.register(fastifyCookie); // loaded when listen() readies the app
  app.addHook('onRequest', async (request: FastifyRequest) => {
    // The one write: a viewer's report, which only ever starts an audit.
    if (request.method === 'POST' && request.url === '/report') return;
    if (request.method !== 'GET' && request.method !== 'HEAD') throw methodNotAllowed('GET, HEAD');
  });

  pageRoutes(app, { publisherId: deps.publisherId });
  statsRoutes(app, { publisherId: deps.publisherId, origin, index, boxCount: deps.boxCount });
  originRoutes(app, { root, stats: origin, log });
  const secure = { publisherId: deps.publisherId, httpsBaseOf: deps.httpsBaseOf };
  playlistRoutes(app, { root, index, viewers, replicasWanted: deps.replicasWanted, holdBackMs: deps.holdBackMs, log, ...secure });
  replicaRoutes(app, { index, viewers, ...secure });
  hashRoutes(app, { root, index });
  reportRoutes(app, { index, auditBox: deps.auditBox });

  return {
    server: web.server,
    secure: deps.tls !== undefined,
    origin,
    listen: (host, port) => web.listen(host, port, LISTEN_KEYS),
    stop: () => web.close(),
  };
}
