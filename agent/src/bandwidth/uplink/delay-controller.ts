/**
 * The viewer rate from queueing delay, in the spirit of LEDBAT (RFC 6817), rate-based because the box
 * paces nginx's traffic with a tc class rather than owning a congestion window.
 *
 * A box on a home LAN never sees the household's packets: they go from other machines straight to the
 * router. What it can see is their effect: the router's upload queue fills and every packet through it,
 * the box's RTT probes to its entrance included, waits longer. So:
 *   base delay     = the lowest RTT seen over the last BASE_HISTORY minutes (the empty-queue path)
 *   current delay  = the lowest of the last CURRENT_FILTER probes (one late reply is not a queue)
 *   queueing delay = current − base
 *   off target     = (target − queueing) / target
 *   rate += max × (GAIN_UP × off target  when under the target,
 *                  GAIN_DOWN × off target when over it, a fall of at most DECREASE_CAP),  within [floor, max]
 * Below the target the rate climbs to the maximum in about 1/GAIN_UP probes; above it the rate falls in
 * proportion to how far over it is, so a household's bulk upload, which keeps the router's queue full,
 * holds the box at its floor until the queue drains.
 */

/** Minutes of base-delay history: a route change that lengthens the path is learnt within this. */
export const BASE_HISTORY_MINUTES = 10;
/** Probes whose minimum is the current delay. */
export const CURRENT_FILTER = 2;
/**
 * Share of the maximum the rate climbs per probe on an empty queue: from the floor to the ceiling in two
 * probes once the household's upload has drained, since anything under the ceiling fits the link.
 */
export const GAIN_UP = 0.5;
/** Share of the maximum the rate falls per probe per target's worth of queueing over the target. */
export const GAIN_DOWN = 0.25;
/** The largest fall in one probe, as a share of the maximum: all of it, so a full queue sends viewers to the floor at once. */
export const DECREASE_CAP = 1;

export interface DelayControllerOptions {
  /** Queueing delay the box aims to stay under (ms): HOUSEHOLD_DELAY_TARGET_MS. */
  targetMs: number;
  /** Viewers always get at least this (Mbit/s): VIEWER_FLOOR_MBIT. */
  floorMbit: number;
}

export class DelayController {
  private readonly baseByMinute: { minute: number; minMs: number }[] = [];
  private recent: number[] = [];
  private rate: number | undefined;
  /** The last queueing delay estimated (ms), for logs and the status. */
  queueingMs = 0;

  constructor(private readonly o: DelayControllerOptions) {}

  /** The rate now (Mbit/s); `maxMbit` until a probe has moved it. */
  rateMbit(maxMbit: number): number {
    return this.clamp(this.rate ?? maxMbit, maxMbit);
  }

  /**
   * One RTT probe's result at `atMs` (ms since the epoch) with the rate's ceiling now (Mbit/s, the
   * viewer share of the capacity and the household's cap). Returns the new rate.
   */
  observe(rttMs: number, atMs: number, maxMbit: number): number {
    this.rememberBase(rttMs, atMs);
    this.recent = [...this.recent, rttMs].slice(-CURRENT_FILTER);
    const current = Math.min(...this.recent);
    this.queueingMs = Math.max(0, current - this.baseMs());
    const offTarget = (this.o.targetMs - this.queueingMs) / this.o.targetMs;
    const step = offTarget >= 0 ? GAIN_UP * offTarget : Math.max(-DECREASE_CAP, GAIN_DOWN * offTarget);
    this.rate = this.clamp(this.rateMbit(maxMbit) + step * maxMbit, maxMbit);
    return this.rate;
  }

  /** The lowest RTT on record (ms). */
  baseMs(): number {
    return Math.min(...this.baseByMinute.map((b) => b.minMs));
  }

  private rememberBase(rttMs: number, atMs: number): void {
    const minute = Math.floor(atMs / 60_000);
    const last = this.baseByMinute.at(-1);
    if (last?.minute === minute) last.minMs = Math.min(last.minMs, rttMs);
    else this.baseByMinute.push({ minute, minMs: rttMs });
    while (this.baseByMinute.length > 0 && this.baseByMinute[0]!.minute <= minute - BASE_HISTORY_MINUTES) this.baseByMinute.shift();
  }

  private clamp(rate: number, maxMbit: number): number {
    const floor = Math.min(this.o.floorMbit, maxMbit);
    return Math.min(maxMbit, Math.max(floor, rate));
  }
}
