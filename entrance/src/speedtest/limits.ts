/** How much of the entrance one capacity test, and all of them together, may take. */

export interface SpeedTestLimits {
  /** Largest download or upload, in bytes. */
  maxBytes: number;
  /** Tests running at once, all anonymous clients together. */
  maxRunning: number;
  /** Tests running at once from one client address (anonymous clients; and enrolled boxes, among themselves). */
  maxRunningPerIp: number;
  /** Further tests reserved for enrolled boxes, which anonymous clients never take. */
  boxSlots: number;
  /** The floor: a test moving fewer bytes than this per second over a window is cut. */
  minBytesPerSecond: number;
  /** The window the floor is counted over; the first window is also the grace period a test starts with. */
  rateWindowMs: number;
  /** A test still running after this is cut off and its connection destroyed. */
  maxMs: number;
  /** Told to refused clients in `retry-after`. */
  retryAfterSeconds: number;
}

export const SPEEDTEST_LIMITS: Readonly<SpeedTestLimits> = Object.freeze({
  maxBytes: 64 * 1024 * 1024,
  maxRunning: 4,
  maxRunningPerIp: 1,
  // As many as the anonymous ones: a fleet's boxes queue up for them (the agent retries on 429), and
  // the entrance's uplink, not its memory, bounds how many tests are worth running at once.
  boxSlots: 4,
  // 64 kbit/s over 5 s windows. Far below any link a box could serve video on (the lowest HLS
  // renditions need a few hundred kbit/s, and the agent gives up on a test slower than
  // BANDWIDTH_TEST_MB in 60 s), so only a stalled or deliberately slow client ever meets it; a slot then
  // costs its holder a steady 64 kbit/s instead of nothing. Windows of a few seconds ride out a
  // congested moment, and a stalled test is cut 5 to 10 s after it stops moving.
  minBytesPerSecond: 8_000,
  rateWindowMs: 5_000,
  // Twice the client's default timeout, so only a stalled or abusive client is cut off.
  maxMs: 120_000,
  retryAfterSeconds: 30,
});
