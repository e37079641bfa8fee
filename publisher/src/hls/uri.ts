/**
 * URIs written in a playlist, turned into paths inside the watched folder. A relative URI is resolved
 * against the playlist's folder, a leading '/' means the watched folder itself (as a FILE_PATH's does),
 * '%xx' escapes are decoded before '.' and '..' are applied, and the result goes through the frame's
 * normaliseFilePath, so a path that comes out of here is one the box protocol accepts and can never name
 * a place outside the watched folder. Absolute URLs (a scheme, or '//host') belong to someone else and
 * are left as written.
 */
import { normaliseFilePath } from '../../../shared/src/protocol/frame.js';
import { isProtocolError } from '../../../shared/src/protocol/errors.js';

export type ResolvedUri =
  /** A normalised path inside the watched folder, e.g. 'live/seg5.ts'; query and fragment dropped. */
  | { kind: 'path'; path: string }
  /** An absolute URL to elsewhere (http:, https:, data:, skd:, //host/…): kept exactly as written. */
  | { kind: 'external' }
  /** Climbs out of the watched folder, or names nothing a FILE_PATH could: never rewritten, never listed. */
  | { kind: 'refused'; reason: string };

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;

/** The folder of a playlist, as path segments ('' and [] for the watched folder itself). Throws E_PATH. */
export function folderOf(playlistPath: string): string[] {
  const segments = normaliseFilePath(playlistPath).split('/');
  segments.pop();
  return segments;
}

export function resolveUri(uri: string, folder: readonly string[]): ResolvedUri {
  if (SCHEME.test(uri) || uri.startsWith('//')) return { kind: 'external' };
  const end = uri.search(/[?#]/);
  const raw = end < 0 ? uri : uri.slice(0, end);
  if (raw === '') return { kind: 'refused', reason: 'no path' };
  const fromRoot = raw.startsWith('/');
  const stack = fromRoot ? [] : [...folder];
  for (const piece of (fromRoot ? raw.slice(1) : raw).split('/')) {
    const name = decodePiece(piece);
    if (name.includes('/')) return { kind: 'refused', reason: 'an escaped "/" in a name' };
    if (name === '.') continue;
    if (name === '..') {
      if (stack.length === 0) return { kind: 'refused', reason: 'climbs out of the watched folder' };
      stack.pop();
      continue;
    }
    stack.push(name); // '' (from "a//b" or a trailing '/') is refused by normaliseFilePath below
  }
  try {
    return { kind: 'path', path: normaliseFilePath(stack.join('/')) };
  } catch (err) {
    if (isProtocolError(err)) return { kind: 'refused', reason: err.message };
    throw err;
  }
}

/** An invalid escape ("seg%zz.ts") is kept as written: encoders write file names unescaped. */
function decodePiece(piece: string): string {
  try {
    return decodeURIComponent(piece);
  } catch {
    return piece; // intentional: not an escape, so the characters are the name
  }
}

export interface AttributeSpan {
  /** The attribute's value without its quotes. */
  value: string;
  /** Where the value, quotes included, starts and ends in the line. */
  start: number;
  end: number;
}

/**
 * The URI attribute of a tag line such as `#EXT-X-MAP:URI="init.mp4",BYTERANGE="720@0"`. Attribute
 * names are matched whole, so X-ASSET-URI or SERVER-URI are not it. Quoted values may hold commas.
 * Undefined when the tag has no URI attribute or its attribute list cannot be read.
 */
export function findUriAttribute(line: string): AttributeSpan | undefined {
  const colon = line.indexOf(':');
  if (colon < 0) return undefined;
  let i = colon + 1;
  while (i < line.length) {
    const eq = line.indexOf('=', i);
    if (eq < 0) return undefined;
    const name = line.slice(i, eq).trim();
    const start = eq + 1;
    let end: number;
    let value: string;
    if (line[start] === '"') {
      const close = line.indexOf('"', start + 1);
      if (close < 0) return undefined;
      end = close + 1;
      value = line.slice(start + 1, close);
    } else {
      const comma = line.indexOf(',', start);
      end = comma < 0 ? line.length : comma;
      value = line.slice(start, end).trim();
    }
    if (name === 'URI') return { value, start, end };
    const next = line.indexOf(',', end);
    if (next < 0) return undefined;
    i = next + 1;
  }
  return undefined;
}

/** The line with its URI attribute's value replaced (written quoted, as RFC 8216 requires). */
export function withUriAttribute(line: string, span: AttributeSpan, uri: string): string {
  return `${line.slice(0, span.start)}"${uri}"${line.slice(span.end)}`;
}
