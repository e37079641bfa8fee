/** The default cap: no wait between reconnects is longer (boxes' and publishers' failover bound). */
export const MAX_BACKOFF_MS = 10_000;

/** Capped exponential backoff with full jitter, for reconnects (capped at MAX_BACKOFF_MS by default). */
export class Backoff {
  private attempt = 0;
  constructor(
    private readonly initialMs = 250,
    private readonly maxMs = MAX_BACKOFF_MS,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** this.attempt);
    this.attempt += 1;
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  reset(): void {
    this.attempt = 0;
  }
}
