/**
 * At most one log line per interval for a failure many callers hit at once: when Redis fails over, every
 * socket's message and every reconnect fails together, and a line each would bury the one that says why.
 * The first is logged at once; after that one per interval, saying how many were held back since.
 */
export class LogThrottle {
  private lastAt = Number.NEGATIVE_INFINITY;
  private held = 0;

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** undefined: hold this one back; else log it, with the number held back since the last line logged. */
  take(): number | undefined {
    const at = this.now();
    if (at - this.lastAt < this.intervalMs) {
      this.held += 1;
      return undefined;
    }
    this.lastAt = at;
    const held = this.held;
    this.held = 0;
    return held;
  }
}
