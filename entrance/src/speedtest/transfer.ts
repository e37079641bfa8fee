/** The bytes a test moves: a download written from one random pattern, an upload counted as it arrives. */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Progress } from './watch.js';

/**
 * Downloads repeat this one random buffer. At 1 MiB it is far beyond deflate's 32 KiB window, so a
 * compressing proxy or modem in the path cannot shrink the stream and inflate the measured speed.
 */
const PATTERN_BYTES = 1024 * 1024;
let pattern: Buffer | undefined;
const patternBuffer = (): Buffer => (pattern ??= randomBytes(PATTERN_BYTES));

/**
 * Bytes handed to the socket in one write. Progress is counted as they are written, so the writes are
 * small beside a window's floor (40 kB by default): a client reading just above the floor still
 * shows progress in every window instead of one large write every few windows.
 */
const WRITE_BYTES = 16 * 1024;

/** Write `total` bytes of the pattern, waiting for 'drain' whenever the socket's buffer is full. */
export function writeBytes(res: ServerResponse, total: number, progress: Progress): void {
  const source = patternBuffer();
  let left = total;
  let offset = 0;
  const pump = (): void => {
    while (left > 0) {
      if (res.destroyed) return; // the client went away or the test was cut: 'drain' will never come
      const n = Math.min(left, WRITE_BYTES, source.length - offset);
      const chunk = source.subarray(offset, offset + n);
      offset = (offset + n) % source.length;
      left -= n;
      progress.moved(n);
      if (!res.write(chunk)) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

/** How an upload ended: its byte count, more than `max` bytes (the rest left unread), or a client that went away. */
export type UploadEnd = { bytes: number } | 'too big' | 'gone';

/**
 * Count a request body as it arrives, never holding it. Node's parser has already refused a
 * content-length that is not a plain number, and bytes past a declared length are not body to it
 * (they start a next request, which it refuses); a body without a length (chunked), or one that never
 * ends, is counted here and stopped as soon as it passes `max`.
 */
export function countUpload(req: IncomingMessage, max: number, progress: Progress): Promise<UploadEnd> {
  return new Promise((resolve) => {
    let bytes = 0;
    const onData = (chunk: Buffer): void => {
      bytes += chunk.length;
      progress.moved(chunk.length);
      if (bytes > max) {
        req.off('data', onData);
        req.pause();
        resolve('too big');
      }
    };
    req.on('data', onData);
    req.once('end', () => resolve({ bytes }));
    // A client that goes away mid-body (or a test cut by its watch): nothing is left to answer.
    req.once('close', () => resolve('gone'));
    req.on('error', () => resolve('gone'));
  });
}
