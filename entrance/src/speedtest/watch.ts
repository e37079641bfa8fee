/**
 * One running test, watched: cut at maxMs, or as soon as it moves fewer than the floor's bytes in a
 * window. The rate is counted per window, not averaged from the start, because a client that stops
 * reading has first let the kernel's socket buffers (megabytes on a fast link) fill, which would keep
 * its average above any floor for minutes.
 */
import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../../shared/src/log.js';
import type { SpeedTestLimits } from './limits.js';

/** Counts what a test moved, for the floor rate. */
export interface Progress {
  moved(bytes: number): void;
}

/**
 * Watch the test answered on `res` until the response finishes or closes; then `release` runs (once
 * per event: Slots' give-back ignores the second). `who` goes into the log lines of a cut.
 */
export function watchTest(res: ServerResponse, limits: SpeedTestLimits, log: Logger, who: Record<string, unknown>, release: () => void): Progress {
  const floorBytes = (limits.minBytesPerSecond * limits.rateWindowMs) / 1000;
  const deadline = setTimeout(() => {
    log.warn({ ...who, maxMs: limits.maxMs }, 'speed test cut off at its deadline');
    res.destroy();
  }, limits.maxMs);
  let moved = 0;
  let movedBefore = 0;
  let windowStart = performance.now();
  const checkRate = (): void => {
    const now = performance.now();
    // A timer this late means the entrance itself was stalled (a long GC, a loaded host) and could
    // neither write nor read: that window says nothing about the client, so it is not judged.
    const judged = now - windowStart < 1.5 * limits.rateWindowMs;
    if (judged && moved - movedBefore < floorBytes) {
      log.warn({ ...who, bytes: moved - movedBefore, windowMs: limits.rateWindowMs, minBytesPerSecond: limits.minBytesPerSecond }, 'speed test cut off: slower than the floor');
      res.destroy();
      return;
    }
    movedBefore = moved;
    windowStart = now;
    rateTimer = setTimeout(checkRate, limits.rateWindowMs);
  };
  let rateTimer = setTimeout(checkRate, limits.rateWindowMs);
  const stop = (): void => {
    clearTimeout(deadline);
    clearTimeout(rateTimer);
    release();
  };
  // 'finish' is the last byte handed to the kernel; 'close' also covers a client that went away.
  res.once('finish', stop);
  res.once('close', stop);
  return { moved: (bytes) => (moved += bytes) };
}
