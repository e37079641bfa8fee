/**
 * GET /origin/<path>: a file of the watched folder as it is on disk, for files no box holds yet and for
 * viewers whose box copy failed. Only a regular file reached without a symlink is served, never a FIFO,
 * a device or a path that leaves the folder once links are resolved (upload/regular-file.ts); anything
 * else is a 404, like a missing file.
 *
 * The answer is written on the raw response (reply.hijack): exactly the content-length fixed when the
 * file was opened, even if the file grows meanwhile, and a HEAD reads nothing (fastify's own HEAD
 * handling would read a stream to its end and throw the bytes away).
 */
import type { FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../../../../shared/src/log.js';
import { messageOf } from '../../../../shared/src/protocol/index.js';
import { openRegularFile } from '../../upload/regular-file.js';
import { filePathOf } from '../file-path.js';
import type { FileRoute } from '../file-path.js';
import { contentTypeOf, isSegment } from '../media-types.js';
import { notFound } from '../../../../shared/src/http-app.js';

/** What the origin served since the publisher started: reported with SEARCH, on /stats and as metrics. */
export interface OriginStats {
  /** Bytes of every answer that was sent to its end. */
  bytes: number;
  /** Of those, the bytes of media segments (what boxes are meant to serve instead). */
  segmentBytes: number;
  /** GET requests answered with a file (HEAD requests are not counted). */
  requests: number;
}

export function createOriginStats(): OriginStats {
  return { bytes: 0, segmentBytes: 0, requests: 0 };
}

export interface OriginDeps {
  /** The watched folder, resolved. */
  root: string;
  stats: OriginStats;
  log: Logger;
}

export function originRoutes(app: FastifyInstance, deps: OriginDeps): void {
  app.get<FileRoute>('/origin/*', async (request, reply) => {
    const file = filePathOf(request);
    let opened: { handle: FileHandle; size: number };
    try {
      opened = await openRegularFile(path.join(deps.root, file), { kind: 'inside', root: deps.root });
    } catch (err) {
      deps.log.debug({ file, err: messageOf(err) }, 'origin: not served');
      throw notFound();
    }
    reply.hijack();
    await sendOpenedFile(request.raw, reply.raw, file, opened, deps.stats);
  });
}

async function sendOpenedFile(req: IncomingMessage, res: ServerResponse, file: string, opened: { handle: FileHandle; size: number }, stats: OriginStats): Promise<void> {
  const { handle, size } = opened;
  const extension = path.extname(file).toLowerCase();
  res.writeHead(200, {
    'content-type': contentTypeOf(extension),
    'content-length': size,
    // A playlist changes with every segment; a segment never changes once written.
    'cache-control': extension === '.m3u8' ? 'no-cache' : 'public, max-age=60',
  });
  if (req.method !== 'HEAD') stats.requests += 1;
  if (req.method === 'HEAD' || size === 0) {
    await handle.close();
    return void res.end();
  }
  // Exactly the bytes content-length announced, even if the file grows meanwhile; the stream closes the handle.
  // pipeline, not pipe: a viewer gone before this point (its 'close' already fired) would leave pipe
  // waiting forever and the handle to the garbage collector; pipeline destroys the stream at once.
  const stream = handle.createReadStream({ start: 0, end: size - 1 });
  res.on('finish', () => {
    stats.bytes += size;
    if (isSegment(extension)) stats.segmentBytes += size;
  });
  pipeline(stream, res, () => {
    /* intentional: a viewer that went away, or a read error, ends this answer; both streams are destroyed */
  });
}
