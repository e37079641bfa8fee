/**
 * The binary file frame: `<Dandelion>` + JSON headers + `</Dandelion>` + the file's bytes, as the
 * original's publishers send it. The header is small and bounded; the content is everything after it.
 */
import { ProtocolError } from './errors.js';
import { optionalNumber, requireString } from './fields.js';
import { isRecord, parseJsonSafe } from './json.js';

const OPEN = Buffer.from('<Dandelion>');
const CLOSE = Buffer.from('</Dandelion>');

/** Largest JSON header between the tags. */
export const MAX_HEADER_BYTES = 16 * 1024;
/** Seconds a file lives on a box when its header names no TTL (the original's default). */
export const DEFAULT_TTL_SECONDS = 60;
/** Longest TTL a publisher may ask for: a week. */
export const MAX_TTL_SECONDS = 7 * 24 * 3600;
export const MAX_PATH_CHARS = 1024;
const MAX_PATH_SEGMENTS = 32;

export interface FrameHeader {
  /** Normalised, relative, '/'-separated path inside the publisher's folder. */
  FILE_PATH: string;
  /** Seconds until the box deletes the file. */
  TTL: number;
}

export interface Frame {
  header: FrameHeader;
  content: Buffer;
}

export function encodeFrame(header: { FILE_PATH: string; TTL?: number }, content: Buffer): Buffer {
  return Buffer.concat([OPEN, Buffer.from(JSON.stringify(header)), CLOSE, content]);
}

/** Split and validate a frame. `content` is a view into `data`, not a copy. */
export function decodeFrame(data: Buffer): Frame {
  const { raw, content } = splitFrame(data);
  return { header: checkFrameHeader(raw), content };
}

/**
 * Split a frame into its parsed (unchecked) header and its content. Errors here mean the frame as a
 * whole is unreadable; checkFrameHeader's errors concern one file, whose FILE_PATH can still be named.
 */
export function splitFrame(data: Buffer): { raw: Record<string, unknown>; content: Buffer } {
  if (data.length < OPEN.length || !data.subarray(0, OPEN.length).equals(OPEN)) {
    throw new ProtocolError('E_BINARY', 'a binary frame must start with <Dandelion>');
  }
  const searchEnd = Math.min(data.length, OPEN.length + MAX_HEADER_BYTES + CLOSE.length);
  const end = data.subarray(0, searchEnd).indexOf(CLOSE, OPEN.length);
  if (end < 0) {
    const why = searchEnd < data.length ? `header longer than ${MAX_HEADER_BYTES} bytes` : 'no </Dandelion> after the header';
    throw new ProtocolError(searchEnd < data.length ? 'E_TOO_BIG' : 'E_BINARY', why);
  }
  const raw: unknown = parseJsonSafe(data.subarray(OPEN.length, end).toString('utf8'));
  if (!isRecord(raw)) throw new ProtocolError('E_BINARY', 'the frame header must be a JSON object');
  return { raw, content: data.subarray(end + CLOSE.length) };
}

export function checkFrameHeader(raw: Record<string, unknown>, defaultTtl: number = DEFAULT_TTL_SECONDS): FrameHeader {
  return {
    FILE_PATH: normaliseFilePath(requireString(raw, 'FILE_PATH', MAX_PATH_CHARS)),
    TTL: optionalNumber(raw, 'TTL', { min: 1, max: MAX_TTL_SECONDS }) ?? defaultTtl,
  };
}

/**
 * A FILE_PATH as a safe relative path, or E_PATH. One leading '/' is dropped, as the original did, so
 * "/live/seg-1.ts" means "live/seg-1.ts" inside the publisher's folder; nothing can name a place outside
 * it: '..' and '.' segments, empty segments ("a//b", "//x"), backslashes, NUL and control characters,
 * drive letters and over-long paths are refused, never rewritten.
 */
export function normaliseFilePath(untrusted: string): string {
  if (untrusted.length === 0 || untrusted.length > MAX_PATH_CHARS) throw new ProtocolError('E_PATH', `FILE_PATH must be 1-${MAX_PATH_CHARS} characters`);
  if (/[\u0000-\u001f\u007f]/.test(untrusted)) throw new ProtocolError('E_PATH', 'FILE_PATH holds NUL or control characters');
  if (untrusted.includes('\\')) throw new ProtocolError('E_PATH', 'FILE_PATH holds a backslash');
  if (/^[A-Za-z]:/.test(untrusted)) throw new ProtocolError('E_PATH', 'FILE_PATH looks like a drive path');
  const rel = untrusted.startsWith('/') ? untrusted.slice(1) : untrusted;
  const segments = rel.split('/');
  if (segments.length > MAX_PATH_SEGMENTS) throw new ProtocolError('E_PATH', `FILE_PATH has more than ${MAX_PATH_SEGMENTS} segments`);
  for (const seg of segments) {
    if (seg === '') throw new ProtocolError('E_PATH', 'FILE_PATH has an empty segment (absolute path, "//" or a trailing "/")');
    if (seg === '.' || seg === '..') throw new ProtocolError('E_PATH', `FILE_PATH has a "${seg}" segment`);
    if (seg.length > 255) throw new ProtocolError('E_PATH', 'FILE_PATH has a segment longer than 255 characters');
  }
  return segments.join('/');
}
