/**
 * GET /hashes/<path>.m3u8: JSON {PLAYLIST, SHA256: {<file>: <hex>}}, the SHA-256 of every file the
 * playlist names that the publisher has read, so the viewer page can check each segment a box serves
 * before the player gets it. Not signed: it comes from the same origin as the page and its script, and
 * whoever could change it in transit could change the script that checks it. Never cached.
 */
import type { FastifyInstance } from 'fastify';
import { notFound } from '../../../../shared/src/http-app.js';
import { parsePlaylist } from '../../hls/parse.js';
import { folderOf, resolveUri } from '../../hls/uri.js';
import type { FileIndex } from '../../upload/file-index.js';
import { filePathOf } from '../file-path.js';
import type { FileRoute } from '../file-path.js';
import { sendJson } from '../reply.js';
import { readPlaylist } from './playlist.js';

export function hashRoutes(app: FastifyInstance, deps: { root: string; index: FileIndex }): void {
  app.get<FileRoute>('/hashes/*', async (request, reply) => {
    const file = filePathOf(request);
    if (!file.toLowerCase().endsWith('.m3u8')) throw notFound('/hashes/ lists playlists (.m3u8) only');
    const text = await readPlaylist(deps.root, file);
    return sendJson(reply, 200, { PLAYLIST: file, SHA256: hashesOf(text, file, deps.index) });
  });
}

function hashesOf(text: string, playlist: string, index: FileIndex): Record<string, string> {
  const out: Record<string, string> = {};
  const folder = folderOf(playlist);
  for (const uri of urisOf(text)) {
    const target = resolveUri(uri, folder);
    const sha256 = target.kind === 'path' ? index.get(target.path)?.sha256 : undefined;
    if (target.kind === 'path' && sha256 !== undefined) out[target.path] = sha256;
  }
  return out;
}

/** The URIs a playlist names; none for a text this server cannot read (/hls/ refuses it too, so nothing of it is served). */
function urisOf(text: string): string[] {
  try {
    return parsePlaylist(text).lines.flatMap((line) => (line.uri === undefined ? [] : [line.uri]));
  } catch {
    return [];
  }
}
