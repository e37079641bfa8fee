/**
 * The publisher's web server:
 *   GET /                      the viewer page (?src=<path>.m3u8)
 *   GET /hls/<path>.m3u8       the playlist rewritten so segments come from boxes (no-cache)
 *   GET /origin/<path>         the original file from the watched folder
 *   GET /files/<path>          JSON: the box URLs holding the file
 *   GET /r/<path>[?exclude=h]  302 to the best box holding it (not host h), else to the origin (no-cache)
 *   GET /static/hls.min.js     hls.js from npm
 *   GET /stats                 JSON: bytes the origin served, files and boxes known
 */
import { listenOn } from '../../../shared/src/listen.js';
import { readFile } from 'node:fs/promises';
import type http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createGuardedServer } from '../../../shared/src/http-guard.js';
import type { Logger } from '../../../shared/src/log.js';
import { isProtocolError, normaliseFilePath } from '../../../shared/src/protocol/index.js';
import { socketAddressOf } from '../../../shared/src/peer-address.js';
import { encodeFilePath } from '../../../shared/src/viewer-url.js';
import { rewritePlaylist } from '../hls/rewrite.js';
import type { FileIndex } from '../upload/file-index.js';
import { openRegularFile, readRegularFile } from '../upload/regular-file.js';
import { viewerPage } from './viewer-page.js';
import type { Viewers } from './viewers.js';

const MIME: Record<string, string> = {
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.ts': 'video/mp2t',
  '.m4s': 'video/iso.segment',
  '.mp4': 'video/mp4',
  '.aac': 'audio/aac',
  '.m4a': 'audio/mp4',
  '.vtt': 'text/vtt',
  '.key': 'application/octet-stream',
};
const SEGMENT_EXT = new Set(['.ts', '.m4s', '.mp4', '.aac', '.m4a']);

export interface OriginStats {
  bytes: number;
  segmentBytes: number;
  requests: number;
}

export interface WebDeps {
  publisherId: string;
  watchDirectory: string;
  index: FileIndex;
  viewers: Viewers;
  replicasWanted: number;
  holdBackMs: number;
  log: Logger;
  boxCount(): number;
}

export interface WebServer {
  server: http.Server;
  origin: OriginStats;
  listen(host: string, port: number): Promise<number>;
  stop(): Promise<void>;
}

const hlsJsPath = path.join(path.dirname(createRequire(import.meta.url).resolve('hls.js')), 'hls.min.js');

export function createWebServer(deps: WebDeps): WebServer {
  const origin: OriginStats = { bytes: 0, segmentBytes: 0, requests: 0 };
  const root = path.resolve(deps.watchDirectory);
  let hlsJs: Buffer | undefined;

  const send = (res: ServerResponse, status: number, body: string | Buffer, type: string, extra: Record<string, string> = {}): void => {
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'access-control-allow-origin': '*', ...extra });
    res.end(body);
  };
  const json = (res: ServerResponse, status: number, body: unknown): void =>
    send(res, status, JSON.stringify(body), 'application/json; charset=utf-8', { 'cache-control': 'no-store' });

  /** The watched-folder path named by the rest of the URL, or undefined when it could name anything else. */
  const fileOf = (rest: string): string | undefined => {
    try {
      return normaliseFilePath(decodeURIComponent(rest));
    } catch (err) {
      if (isProtocolError(err) || err instanceof URIError) return undefined;
      throw err;
    }
  };

  /**
   * A regular file of the watched folder, never a symlink, FIFO or device, and never a path that leaves
   * the folder once links are resolved (regular-file.ts); anything else is 404, like a missing file.
   */
  async function serveOrigin(req: IncomingMessage, res: ServerResponse, file: string): Promise<void> {
    let opened: Awaited<ReturnType<typeof openRegularFile>>;
    try {
      opened = await openRegularFile(path.join(root, file), { kind: 'inside', root });
    } catch (err) {
      deps.log.debug({ file, err: (err as Error).message }, 'origin: not served');
      return json(res, 404, { ERROR: 'not found' });
    }
    const { handle, size } = opened;
    const ext = path.extname(file).toLowerCase();
    res.writeHead(200, {
      'content-type': MIME[ext] ?? 'application/octet-stream',
      'content-length': size,
      'access-control-allow-origin': '*',
      'cache-control': ext === '.m3u8' ? 'no-cache' : 'public, max-age=60',
    });
    if (req.method !== 'HEAD') origin.requests += 1;
    if (req.method === 'HEAD' || size === 0) {
      await handle.close();
      return void res.end();
    }
    // Exactly the bytes content-length announced, even if the file grows meanwhile; the stream closes the handle.
    const stream = handle.createReadStream({ start: 0, end: size - 1 });
    stream.on('error', () => res.destroy());
    res.on('close', () => stream.destroy());
    res.on('finish', () => {
      origin.bytes += size;
      if (SEGMENT_EXT.has(ext)) origin.segmentBytes += size;
    });
    stream.pipe(res);
  }

  async function servePlaylist(req: IncomingMessage, res: ServerResponse, file: string): Promise<void> {
    let text: string;
    try {
      text = (await readRegularFile(path.join(root, file), { kind: 'inside', root })).toString('utf8');
    } catch {
      return json(res, 404, { ERROR: 'no such playlist' });
    }
    const viewer = deps.viewers.idOf(req, res);
    const ip = socketAddressOf(req);
    let body: string;
    try {
      body = rewritePlaylist({
        text,
        playlistPath: file,
        segment: (p) => {
          const f = deps.index.get(p);
          return f ? { replicas: deps.viewers.order(deps.index.replicas(p), ip, viewer), firstSeenMs: f.firstSeenMs } : undefined;
        },
        replicasWanted: deps.replicasWanted,
        holdBackMs: deps.holdBackMs,
        nowMs: Date.now(),
        originPrefix: '/origin/',
        playlistPrefix: '/hls/',
        sticky: deps.viewers.stickyOf(viewer),
      });
    } catch (err) {
      deps.log.warn({ file, err: (err as Error).message }, 'playlist not rewritten');
      return json(res, 502, { ERROR: `the source playlist could not be read: ${(err as Error).message}` });
    }
    send(res, 200, body, MIME['.m3u8'] as string, { 'cache-control': 'no-cache' });
  }

  async function handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { ERROR: 'method not allowed' });
    const p = url.pathname;
    if (p === '/') return send(res, 200, viewerPage(deps.publisherId), 'text/html; charset=utf-8', { 'cache-control': 'no-cache' });
    if (p === '/static/hls.min.js') {
      hlsJs ??= await readFile(hlsJsPath);
      return send(res, 200, hlsJs, 'text/javascript; charset=utf-8', { 'cache-control': 'public, max-age=86400' });
    }
    if (p === '/stats') {
      return json(res, 200, { ID: deps.publisherId, ORIGIN_BYTES: origin.bytes, ORIGIN_SEGMENT_BYTES: origin.segmentBytes, ORIGIN_REQUESTS: origin.requests, FILES: deps.index.size, BOXES: deps.boxCount() });
    }
    const m = /^\/(origin|hls|files|r)\/(.+)$/.exec(p);
    const file = m ? fileOf(m[2] as string) : undefined;
    if (!m || file === undefined) return json(res, 404, { ERROR: 'not found' });
    switch (m[1]) {
      case 'origin':
        return serveOrigin(req, res, file);
      case 'hls':
        if (!file.toLowerCase().endsWith('.m3u8')) return json(res, 404, { ERROR: '/hls/ serves playlists (.m3u8) only' });
        return servePlaylist(req, res, file);
      case 'files': {
        const urls = deps.index.replicas(file).map((r) => r.url);
        if (urls.length === 0 && !deps.index.get(file)) return json(res, 404, { ERROR: 'no box holds this file', FILE_PATH: file, URLS: [] });
        return json(res, 200, { FILE_PATH: file, URLS: urls });
      }
      case 'r': {
        const exclude = url.searchParams.get('exclude');
        const best = deps.viewers
          .order(deps.index.replicas(file), socketAddressOf(req))
          .find((r) => exclude === null || new URL(r.url).host !== exclude);
        res.writeHead(302, { location: best?.url ?? `/origin/${encodeFilePath(file)}`, 'cache-control': 'no-cache', 'access-control-allow-origin': '*', 'content-length': 0 });
        return void res.end();
      }
    }
  }

  const server = createGuardedServer({ log: deps.log, onRequest: handle });

  return {
    server,
    origin,
    async listen(host, port) {
      return listenOn(server, host, port, { port: 'PUBLISHER_HTTP_PORT', host: 'PUBLISHER_HTTP_IP' });
    },
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
