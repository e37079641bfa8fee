/**
 * How many per-line TRAFFIC_FLOW records the tail stores per record lifetime. A record is informational
 * (the entrance counts the aggregates, never the records: entrance/src/traffic/fold.ts), it expires after
 * recordTtlSeconds, and each EXCHANGE carries at most MAX_RECORDS_PER_EXCHANGE of them. Storing one for
 * every line nginx serves cost Redis a new key and an expiry per request and the agent the arguments to
 * send them, most of them to expire unsent: under load that was most of what the tail cost the machine
 * nginx runs on (bench serving). So each lifetime window stores its first lines' records, as many as the
 * EXCHANGEs of one lifetime can carry; the aggregates still count every line, and a record that is stored
 * is what it was.
 */

/**
 * Records stored per window of recordTtlSeconds. The agent passes 2 heartbeat periods as the lifetime, so
 * a window sees two EXCHANGEs of MAX_RECORDS_PER_EXCHANGE (100, heartbeat/exchange.ts) each.
 */
export const RECORDS_PER_WINDOW = 200;

export class RecordBudget {
  private windowStart = -Infinity;
  private used = 0;

  constructor(
    private readonly windowMs: number,
    private readonly perWindow = RECORDS_PER_WINDOW,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records the current window still allows. */
  available(): number {
    const now = this.now();
    if (now - this.windowStart >= this.windowMs) {
      this.windowStart = now;
      this.used = 0;
    }
    return this.perWindow - this.used;
  }

  /** Counts `n` records as stored in the current window. */
  spend(n: number): void {
    this.used += n;
  }
}
