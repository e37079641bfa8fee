/**
 * An HLS playlist (RFC 8216) read into lines that know what they are: tags, URI lines and comments, each
 * media-playlist line tied to the segment it describes, each master-playlist #EXT-X-STREAM-INF tied to
 * its variant's URI line. Lines end in LF, CRLF or CR; a UTF-8 BOM is dropped; blank lines are dropped;
 * each line is trimmed. Nothing is rewritten here.
 */
import { findUriAttribute } from './uri.js';

/** A text that is not an HLS playlist, or is one RFC 8216 forbids (master and media tags mixed). */
export class PlaylistError extends Error {
  override name = 'PlaylistError';
  readonly code = 'E_PLAYLIST';
}

export interface PlaylistLine {
  /** The line as written, trimmed, without its line ending. */
  text: string;
  /** '#EXT…' is a tag, any other '#' line a comment, the rest a URI line. */
  kind: 'tag' | 'uri' | 'comment';
  /** A tag's name without '#' and ':', e.g. 'EXTINF', 'EXT-X-MAP'. */
  tag: string | undefined;
  /** A URI line's text, or the value of a tag's URI="…" attribute. */
  uri: string | undefined;
  /**
   * The entry this line belongs to: an index into `segments` (media) or `variants` (master). In a media
   * playlist every line but a playlist-level tag (PLAYLIST_LEVEL_TAGS) belongs to the next URI line, so
   * #EXT-X-DISCONTINUITY, #EXT-X-PROGRAM-DATE-TIME, #EXTINF, #EXT-X-BYTERANGE, #EXT-X-KEY, #EXT-X-MAP,
   * comments and unknown tags go with the segment they precede. An index equal to the list's length marks
   * lines after the last URI line, which belong to an entry not written yet. Undefined: playlist-level.
   */
  owner: number | undefined;
}

export interface PlaylistEntry {
  /** The URI line as written. */
  uri: string;
  /** Index of the URI line in `lines`. */
  line: number;
}

export interface ParsedSegment extends PlaylistEntry {
  /** Media sequence number: #EXT-X-MEDIA-SEQUENCE plus the segment's position. */
  sequence: number;
  /** Seconds, from #EXTINF (undefined when missing or unreadable). */
  duration: number | undefined;
}

export interface ParsedPlaylist {
  kind: 'master' | 'media';
  lines: PlaylistLine[];
  /** Media playlists: the segments in order (empty for a master). */
  segments: ParsedSegment[];
  /** Master playlists: the #EXT-X-STREAM-INF variants in order (empty for a media playlist). */
  variants: PlaylistEntry[];
  /** #EXT-X-MEDIA-SEQUENCE, 0 when absent (RFC 8216 4.3.3.2). */
  mediaSequence: number;
  /** #EXT-X-ENDLIST present: the playlist will not grow (VOD, or a finished live stream). */
  endList: boolean;
}

/** Media-playlist tags that describe the whole playlist, not the segment after them. */
export const PLAYLIST_LEVEL_TAGS: ReadonlySet<string> = new Set([
  'EXTM3U',
  'EXT-X-VERSION',
  'EXT-X-TARGETDURATION',
  'EXT-X-MEDIA-SEQUENCE',
  'EXT-X-DISCONTINUITY-SEQUENCE',
  'EXT-X-PLAYLIST-TYPE',
  'EXT-X-ENDLIST',
  'EXT-X-I-FRAMES-ONLY',
  'EXT-X-INDEPENDENT-SEGMENTS',
  'EXT-X-START',
  'EXT-X-DEFINE',
  'EXT-X-ALLOW-CACHE',
  'EXT-X-SERVER-CONTROL',
  'EXT-X-PART-INF',
  'EXT-X-SKIP',
  'EXT-X-RENDITION-REPORT',
]);

/** Tags only a master playlist has. */
const MASTER_TAGS: ReadonlySet<string> = new Set([
  'EXT-X-STREAM-INF',
  'EXT-X-I-FRAME-STREAM-INF',
  'EXT-X-MEDIA',
  'EXT-X-SESSION-DATA',
  'EXT-X-SESSION-KEY',
  'EXT-X-CONTENT-STEERING',
]);

/** Throws PlaylistError (code E_PLAYLIST) for a text that is not a playlist. */
export function parsePlaylist(text: string): ParsedPlaylist {
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const rawLines = body.split(/\r\n|\r|\n/);
  if (rawLines[0]?.trim() !== '#EXTM3U') throw new PlaylistError('not an HLS playlist: the first line must be #EXTM3U');

  const lines: PlaylistLine[] = [];
  let isMaster = false;
  let hasExtinf = false;
  for (const raw of rawLines) {
    const text = raw.trim();
    if (text === '') continue;
    if (!text.startsWith('#')) {
      lines.push({ text, kind: 'uri', tag: undefined, uri: text, owner: undefined });
      continue;
    }
    if (!text.startsWith('#EXT')) {
      lines.push({ text, kind: 'comment', tag: undefined, uri: undefined, owner: undefined });
      continue;
    }
    const colon = text.indexOf(':');
    const tag = text.slice(1, colon < 0 ? undefined : colon);
    if (MASTER_TAGS.has(tag)) isMaster = true;
    if (tag === 'EXTINF') hasExtinf = true;
    lines.push({ text, kind: 'tag', tag, uri: colon < 0 ? undefined : findUriAttribute(text)?.value, owner: undefined });
  }
  if (isMaster && hasExtinf) throw new PlaylistError('not a valid HLS playlist: it mixes master tags (#EXT-X-STREAM-INF…) with #EXTINF segments');

  const mediaSequence = readMediaSequence(lines);
  const parsed: ParsedPlaylist = {
    kind: isMaster ? 'master' : 'media',
    lines,
    segments: [],
    variants: [],
    mediaSequence,
    endList: lines.some((l) => l.tag === 'EXT-X-ENDLIST'),
  };
  if (isMaster) tieVariants(parsed);
  else tieSegments(parsed);
  return parsed;
}

function tieSegments(parsed: ParsedPlaylist): void {
  let duration: number | undefined;
  parsed.lines.forEach((line, i) => {
    if (line.kind === 'tag' && PLAYLIST_LEVEL_TAGS.has(line.tag ?? '')) return;
    line.owner = parsed.segments.length;
    if (line.tag === 'EXTINF') duration = readDuration(line.text);
    if (line.kind !== 'uri') return;
    parsed.segments.push({ uri: line.text, line: i, sequence: parsed.mediaSequence + parsed.segments.length, duration });
    duration = undefined;
  });
}

/** #EXT-X-STREAM-INF and the URI line after it form one variant; every other master line stands alone. */
function tieVariants(parsed: ParsedPlaylist): void {
  parsed.lines.forEach((line, i) => {
    if (line.tag !== 'EXT-X-STREAM-INF' && line.kind !== 'uri') return;
    line.owner = parsed.variants.length;
    if (line.kind === 'uri') parsed.variants.push({ uri: line.text, line: i });
  });
}

function readMediaSequence(lines: readonly PlaylistLine[]): number {
  const line = lines.find((l) => l.tag === 'EXT-X-MEDIA-SEQUENCE');
  if (line === undefined) return 0;
  const value = line.text.slice(line.text.indexOf(':') + 1).trim();
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new PlaylistError(`not a valid HLS playlist: #EXT-X-MEDIA-SEQUENCE "${value}" is not a whole number`);
  return n;
}

function readDuration(text: string): number | undefined {
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  const comma = text.indexOf(',', colon);
  const n = Number.parseFloat(text.slice(colon + 1, comma < 0 ? undefined : comma));
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}
