/** The content type each HLS file is served with, and which files are media segments (counted as such). */

export const PLAYLIST_TYPE = 'application/vnd.apple.mpegurl';

const TYPES: ReadonlyMap<string, string> = new Map([
  ['.m3u8', PLAYLIST_TYPE],
  ['.ts', 'video/mp2t'],
  ['.m4s', 'video/iso.segment'],
  ['.mp4', 'video/mp4'],
  ['.aac', 'audio/aac'],
  ['.m4a', 'audio/mp4'],
  ['.vtt', 'text/vtt'],
  ['.key', 'application/octet-stream'],
]);
const SEGMENT_EXTENSIONS: ReadonlySet<string> = new Set(['.ts', '.m4s', '.mp4', '.aac', '.m4a']);

/** By lower-case extension ('.ts'); anything else is application/octet-stream. */
export function contentTypeOf(extension: string): string {
  return TYPES.get(extension) ?? 'application/octet-stream';
}

export function isSegment(extension: string): boolean {
  return SEGMENT_EXTENSIONS.has(extension);
}
