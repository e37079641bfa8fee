/**
 * GET /hls/<path>.m3u8: a playlist of the watched folder rewritten for the viewer asking (hls/rewrite.ts),
 * so its segments come from boxes, in the order viewers.ts gives that viewer, and each viewer keeps the
 * URIs it was given; a viewer over HTTPS gets boxes' https:// URLs only (secure-replicas.ts). Never
 * cached: it changes with every segment.
 */
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { HttpError, notFound } from '../../../../shared/src/http-app.js';
import type { Logger } from '../../../../shared/src/log.js';
import { socketAddressOf } from '../../../../shared/src/peer-address.js';
import { messageOf } from '../../../../shared/src/protocol/index.js';
import { rewritePlaylist } from '../../hls/rewrite.js';
import type { FileIndex } from '../../upload/file-index.js';
import { readRegularFile } from '../../upload/regular-file.js';
import { filePathOf } from '../file-path.js';
import type { FileRoute } from '../file-path.js';
import { PLAYLIST_TYPE } from '../media-types.js';
import { replicasForViewer, viewerIsSecure } from '../secure-replicas.js';
import type { SecureReplicaDeps } from '../secure-replicas.js';
import { viewerIdOf } from '../viewer-cookie.js';
import type { Viewers } from '../viewers.js';

export interface PlaylistDeps extends SecureReplicaDeps {
  /** The watched folder, resolved. */
  root: string;
  index: FileIndex;
  viewers: Viewers;
  replicasWanted: number;
  holdBackMs: number;
  log: Logger;
}

export function playlistRoutes(app: FastifyInstance, deps: PlaylistDeps): void {
  app.get<FileRoute>('/hls/*', async (request, reply) => {
    const file = filePathOf(request);
    if (!file.toLowerCase().endsWith('.m3u8')) throw notFound('/hls/ serves playlists (.m3u8) only');
    const text = await readPlaylist(deps.root, file);
    const playlist = rewriteFor(deps, { text, file, viewer: viewerIdOf(request, reply), ip: socketAddressOf(request.raw), secure: viewerIsSecure(request.raw) });
    return reply.type(PLAYLIST_TYPE).header('cache-control', 'no-cache').send(playlist);
  });
}

/** The playlist as the encoder wrote it: a regular file of the folder, read the same careful way as /origin/. */
export async function readPlaylist(root: string, file: string): Promise<string> {
  try {
    return (await readRegularFile(path.join(root, file), { kind: 'inside', root })).toString('utf8');
  } catch {
    throw notFound('no such playlist');
  }
}

function rewriteFor(deps: PlaylistDeps, asked: { text: string; file: string; viewer: string; ip: string; secure: boolean }): string {
  const { index, viewers } = deps;
  try {
    return rewritePlaylist({
      text: asked.text,
      playlistPath: asked.file,
      segment: (p) => {
        const f = index.get(p);
        const replicas = replicasForViewer(index.replicas(p), p, asked.secure, deps);
        return f ? { replicas: viewers.order(replicas, asked.ip, asked.viewer), firstSeenMs: f.firstSeenMs } : undefined;
      },
      replicasWanted: deps.replicasWanted,
      holdBackMs: deps.holdBackMs,
      nowMs: Date.now(),
      originPrefix: '/origin/',
      playlistPrefix: '/hls/',
      sticky: viewers.stickyOf(asked.viewer),
    });
  } catch (err) {
    deps.log.warn({ file: asked.file, err: messageOf(err) }, 'playlist not rewritten');
    // The encoder's file is not a playlist this server can read: the fault is upstream of this server.
    throw new HttpError(502, 'E_FORMAT', `the source playlist could not be read: ${messageOf(err)}`);
  }
}
