/**
 * The playlist a viewer is served: the encoder's playlist with every URI pointed at a box that confirmed
 * the file, or at the publisher's origin while none has. Pure: no clock, no I/O; the caller passes the
 * time, what each box confirmed, and the viewer's memory of what it was served before.
 *
 * Master playlists: each variant (#EXT-X-STREAM-INF's URI line) and each URI="…" of #EXT-X-MEDIA and
 * #EXT-X-I-FRAME-STREAM-INF becomes playlistPrefix + path; other URI="…" (#EXT-X-SESSION-KEY,
 * #EXT-X-SESSION-DATA) becomes originPrefix + path. `segment`, the clock and `sticky` are not used.
 *
 * Media playlists: each segment URI line, and each URI="…" of #EXT-X-MAP, #EXT-X-KEY (and any other tag
 * naming a file, e.g. #EXT-X-PART), becomes an absolute URL: a confirmed replica's `url` as given, else
 * originPrefix + path. #EXT-X-RENDITION-REPORT names a playlist: playlistPrefix + path.
 *
 * Paths: URIs resolve against the playlist's folder, '/…' against the watched folder; query and fragment
 * are dropped (a box serves the plain file). Absolute URLs to elsewhere stay exactly as written. A URI
 * that climbs out of the watched folder is refused: its variant or tag line is left out of a master, and
 * in a media playlist its segment and every later one are, because only a tail may be cut (a hole would
 * shift media sequence numbers). Output paths are percent-encoded per name.
 *
 * Choice per file, remembered in `sticky` (one map per viewer, entries scoped by media playlist, see stickyKey):
 *   1. the URI this viewer was served before, while still valid: the origin URI, or the url of a replica
 *      still listed (hls.js treats a changed URI for the same media sequence number as an error, so a
 *      segment first served from origin stays at origin for this viewer; new viewers get boxes);
 *   2. else the first replica (the caller orders them for this viewer), e.g. the next one after a failed box;
 *   3. else the origin URI.
 * This playlist's entries for paths it no longer names are deleted, so they follow the live window; other
 * playlists' entries (alternate audio, other variants) are left alone.
 *
 * Live hold-back (no #EXT-X-ENDLIST): a segment with fewer than replicasWanted distinct confirming boxes
 * that the publisher first saw less than holdBackMs ago (or has not seen at all) is withheld, and so is
 * every segment after it, each together with the lines that belong to it (#EXTINF,
 * #EXT-X-DISCONTINUITY, #EXT-X-PROGRAM-DATE-TIME, #EXT-X-BYTERANGE, #EXT-X-MAP/#EXT-X-KEY in front of it,
 * comments). Past hold-back it is listed anyway, at origin. Lines after the last segment (a half-written
 * entry) are left out of live playlists. A segment this viewer was already served (it is in `sticky`)
 * is never withheld again, so its playlist never shrinks when a box drops a young segment.
 * #EXT-X-MAP/#EXT-X-KEY files never hold anything back: listed at once, at origin while no box has them. In playlists with
 * #EXT-X-ENDLIST nothing is withheld; segments without a confirmed replica point at origin.
 *
 * Every other line is kept as written, in order; blank lines are dropped; output lines end in '\n'.
 */
import { normaliseFilePath } from '../../../shared/src/protocol/frame.js';
import { encodeFilePath } from '../../../shared/src/viewer-url.js';
import type { Replica } from '../upload/file-index.js';
import { parsePlaylist } from './parse.js';
import type { ParsedPlaylist, PlaylistLine } from './parse.js';
import { findUriAttribute, folderOf, resolveUri, withUriAttribute } from './uri.js';
import type { ResolvedUri } from './uri.js';

export interface SegmentState {
  /** Confirmed box copies, best first (already ordered for this viewer by the caller). */
  replicas: readonly Replica[];
  /** When the publisher first saw the file (ms since the epoch). */
  firstSeenMs: number;
}

/** The default hold-back: HOLD_BACK = 1 s. */
export const DEFAULT_HOLD_BACK_MS = 1_000;

export interface RewriteInput {
  /** The playlist as the encoder wrote it. */
  text: string;
  /** Where the playlist is inside the watched folder, e.g. 'live/index.m3u8'. Throws E_PATH if unsafe. */
  playlistPath: string;
  /** A file by its normalised path inside the watched folder; undefined: the publisher has not seen it. */
  segment(path: string): SegmentState | undefined;
  /** REPLICAS: distinct boxes a live segment waits for during hold-back. */
  replicasWanted: number;
  /** HOLD_BACK in ms: how long a live segment may wait for its replicas. Default DEFAULT_HOLD_BACK_MS. */
  holdBackMs?: number;
  /** The time now, ms since the epoch. */
  nowMs: number;
  /** Origin URIs are originPrefix + path: '/origin/' or 'http://host:port/origin/'. */
  originPrefix: string;
  /** Playlist URIs (variants, renditions) are playlistPrefix + path, e.g. '/hls/'. */
  playlistPrefix: string;
  /**
   * This viewer's memory of the URIs it was served, read and updated: stickyKey(playlist, file) → URI.
   * One map per viewer serves all its playlists; drop it when the viewer goes away.
   */
  sticky: Map<string, string>;
}

/**
 * The `sticky` key for a file listed in a media playlist (both normalised paths). Entries are scoped by
 * playlist so one viewer's audio and video playlists, reloaded in turn, do not prune each other.
 */
export function stickyKey(playlistPath: string, path: string): string {
  return `${playlistPath}\n${path}`; // '\n' is in no normalised path
}

/** Throws PlaylistError (E_PLAYLIST) for a text that is not a playlist, ProtocolError (E_PATH) for a bad playlistPath. */
export function rewritePlaylist(input: RewriteInput): string {
  const parsed = parsePlaylist(input.text);
  const playlist = normaliseFilePath(input.playlistPath);
  const folder = folderOf(playlist);
  const out = parsed.kind === 'master' ? rewriteMaster(parsed, folder, input) : rewriteMedia(parsed, new Memory(input.sticky, playlist), folder, input);
  return `${out.join('\n')}\n`;
}

/** Tags whose URI="…" names a playlist rather than a media file. */
const PLAYLIST_URI_TAGS: ReadonlySet<string> = new Set(['EXT-X-MEDIA', 'EXT-X-I-FRAME-STREAM-INF', 'EXT-X-RENDITION-REPORT']);

function rewriteMaster(parsed: ParsedPlaylist, folder: readonly string[], input: RewriteInput): string[] {
  const resolved = parsed.lines.map((line) => (line.uri === undefined ? undefined : resolveUri(line.uri, folder)));
  const dropped = new Set<number>();
  parsed.lines.forEach((line, i) => {
    if (resolved[i]?.kind === 'refused' && line.owner !== undefined) dropped.add(line.owner);
  });
  const out: string[] = [];
  parsed.lines.forEach((line, i) => {
    const target = resolved[i];
    if (line.owner !== undefined && (dropped.has(line.owner) || line.owner >= parsed.variants.length)) return;
    if (target === undefined || target.kind === 'external') out.push(line.text);
    else if (target.kind === 'path') {
      const prefix = line.kind === 'uri' || PLAYLIST_URI_TAGS.has(line.tag ?? '') ? input.playlistPrefix : input.originPrefix;
      out.push(withUri(line, prefix + encodeFilePath(target.path)));
    }
    // refused and standing alone: left out
  });
  return out;
}

/** The part of a viewer's `sticky` map that belongs to one playlist. */
class Memory {
  private readonly prefix: string;
  constructor(
    private readonly map: Map<string, string>,
    playlist: string,
  ) {
    this.prefix = stickyKey(playlist, '');
  }
  get(path: string): string | undefined {
    return this.map.get(this.prefix + path);
  }
  set(path: string, uri: string): void {
    this.map.set(this.prefix + path, uri);
  }
  /** Forget this playlist's files that are not in `keep`. */
  prune(keep: ReadonlySet<string>): void {
    for (const key of this.map.keys()) {
      if (key.startsWith(this.prefix) && !keep.has(key.slice(this.prefix.length))) this.map.delete(key);
    }
  }
}

function rewriteMedia(parsed: ParsedPlaylist, memory: Memory, folder: readonly string[], input: RewriteInput): string[] {
  const { lines, segments } = parsed;
  const resolved: (ResolvedUri | undefined)[] = lines.map((line) => (line.uri === undefined ? undefined : resolveUri(line.uri, folder)));
  const states = new Map<string, SegmentState | undefined>();
  const stateOf = (path: string): SegmentState | undefined => {
    if (!states.has(path)) states.set(path, input.segment(path));
    return states.get(path);
  };

  // Lines whose owner is at or after `cut` are left out. Live: at least the half-written entry after the last segment.
  let cut = parsed.endList ? Number.POSITIVE_INFINITY : segments.length;
  lines.forEach((line, i) => {
    if (resolved[i]?.kind === 'refused' && line.owner !== undefined) cut = Math.min(cut, line.owner);
  });
  if (!parsed.endList) {
    const firstHeld = segments.findIndex((seg, i) => {
      const target = resolved[seg.line];
      return i < cut && target?.kind === 'path' && memory.get(target.path) === undefined && isWithheld(stateOf(target.path), input);
    });
    if (firstHeld >= 0) cut = Math.min(cut, firstHeld);
  }

  const out: string[] = [];
  lines.forEach((line, i) => {
    const target = resolved[i];
    if (line.owner !== undefined && line.owner >= cut) return;
    if (target === undefined || target.kind === 'external') out.push(line.text);
    else if (target.kind === 'path') {
      if (line.kind === 'tag' && PLAYLIST_URI_TAGS.has(line.tag ?? '')) out.push(withUri(line, input.playlistPrefix + encodeFilePath(target.path)));
      else out.push(withUri(line, chooseUri(target.path, stateOf(target.path), memory, input.originPrefix)));
    }
    // refused and standing alone (a playlist-level tag): left out
  });

  const named = new Set<string>();
  for (const target of resolved) if (target?.kind === 'path') named.add(target.path);
  memory.prune(named);
  return out;
}

/** Whether a live segment not yet served to this viewer waits (a served one is never taken back). */
function isWithheld(state: SegmentState | undefined, input: RewriteInput): boolean {
  if (state === undefined) return true; // not seen yet: as young as can be
  return confirmedBoxes(state) < input.replicasWanted && input.nowMs - state.firstSeenMs < (input.holdBackMs ?? DEFAULT_HOLD_BACK_MS);
}

function chooseUri(path: string, state: SegmentState | undefined, memory: Memory, originPrefix: string): string {
  const origin = originPrefix + encodeFilePath(path);
  const urls = usableReplicas(state).map((r) => r.url);
  const before = memory.get(path);
  if (before !== undefined && (before === origin || urls.includes(before))) return before;
  const chosen = urls[0] ?? origin;
  memory.set(path, chosen);
  return chosen;
}

function confirmedBoxes(state: SegmentState): number {
  return new Set(usableReplicas(state).map((r) => r.boxId)).size;
}

/** A url with a quote or a control character would break the playlist line it is written into: skipped. */
function usableReplicas(state: SegmentState | undefined): Replica[] {
  return (state?.replicas ?? []).filter((r) => r.url !== '' && !/["\u0000-\u001f\u007f]/.test(r.url));
}

function withUri(line: PlaylistLine, uri: string): string {
  if (line.kind === 'uri') return uri;
  const span = findUriAttribute(line.text);
  return span === undefined ? line.text : withUriAttribute(line.text, span, uri);
}
