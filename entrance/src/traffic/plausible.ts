/**
 * How many bytes a box can plausibly have sent in a span of time. A box reports its own traffic, and a
 * box's owner has root on it: an aggregate of 9e15 bytes would otherwise go straight into the fleet's
 * totals. So each aggregate counts only up to what the box's upload could carry over its span, less what
 * the box already had counted in that span; the rest is recorded as implausible (fold.ts).
 *
 * The upload is BANDWIDTH-UP, the capacity the box measured against an entrance (or its BANDWIDTH_UP
 * config) and reports in every EXCHANGE. It is the box's own figure, so it is capped at a rate no
 * household link reaches; the margin covers a measurement taken at a busy moment.
 */

/** Counted up to this many times the measured upload: a speed test run while the household used the link reads low. */
export const CAPACITY_MARGIN = 1.5;
/**
 * Bytes allowed in every window on top of the measured upload, and all a box that has not measured yet
 * gets (a few HLS segments a minute): the agent measures at start, so this covers only its first minutes.
 */
export const UNMEASURED_ALLOWANCE_BYTES = 16 * 1024 * 1024;
/** A reported upload above this (10 Gbit/s: faster than any household link) is taken as this. */
export const MAX_UPLOAD_MBIT = 10_000;
/**
 * Most buckets one aggregate's window is checked over. An aggregate spanning more minutes is checked
 * over hours, and one spanning more days than this (a box's wrong clock) over this many days.
 */
export const MAX_WINDOW_BUCKETS = 60;

const BYTES_PER_MBIT = 125_000;

/** Bytes a box reporting `upMbit` (undefined: not measured yet) may have sent in `seconds`. */
export function allowanceBytes(upMbit: number | undefined, seconds: number): number {
  const mbit = upMbit !== undefined && Number.isFinite(upMbit) && upMbit > 0 ? Math.min(upMbit, MAX_UPLOAD_MBIT) : 0;
  return Math.floor(CAPACITY_MARGIN * mbit * BYTES_PER_MBIT * seconds) + UNMEASURED_ALLOWANCE_BYTES;
}
