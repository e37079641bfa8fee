/**
 * The publisher's HLS playlists, pure functions only (no server, no watcher, no Redis):
 *
 *   parsePlaylist(text: string): ParsedPlaylist
 *     master or media, lines tied to their segment/variant, segments with media sequence numbers,
 *     #EXT-X-MEDIA-SEQUENCE, #EXT-X-ENDLIST. Throws PlaylistError (code 'E_PLAYLIST') for a text that
 *     is not a playlist.
 *   rewritePlaylist(input: RewriteInput): string
 *     the playlist one viewer is served: URIs pointed at confirmed boxes or the origin, young live
 *     segments held back, URIs kept stable per viewer through `input.sticky`. Rules: rewrite.ts.
 *   stickyKey(playlistPath: string, path: string): string
 *     the key under which `sticky` remembers a file of a media playlist.
 */
export { PlaylistError, parsePlaylist } from './parse.js';
export type { ParsedPlaylist, ParsedSegment, PlaylistEntry, PlaylistLine } from './parse.js';
export { DEFAULT_HOLD_BACK_MS, rewritePlaylist, stickyKey } from './rewrite.js';
export type { Replica } from '../upload/file-index.js';
export type { RewriteInput, SegmentState } from './rewrite.js';
