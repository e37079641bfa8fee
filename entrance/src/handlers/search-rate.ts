/**
 * How often one publisher may SEARCH: a token bucket per publisher ID, SEARCH_BURST at once and
 * SEARCHES_PER_SECOND after that. A publisher searches every PUBLISHER_PING_ENTRANCE_FREQ seconds (10 by
 * default) and again when it loses a box, far below this; what it stops is one publisher paging through
 * the fleet by asking from many places in a loop. Buckets are kept per entrance, in memory, for at most
 * MAX_BUCKETS publishers (the least recently seen dropped first), so IDs a stranger makes up cannot grow it.
 */
export const SEARCH_BURST = 20;
export const SEARCHES_PER_SECOND = 2;
const MAX_BUCKETS = 10_000;

export class SearchRate {
  /** Publisher ID → tokens left and when they were counted (ms); Map order is least recently seen first. */
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Whether `publisherId` may SEARCH now; takes one token when it may. */
  take(publisherId: string): boolean {
    const now = this.now();
    const bucket = this.buckets.get(publisherId) ?? { tokens: SEARCH_BURST, at: now };
    this.buckets.delete(publisherId);
    bucket.tokens = Math.min(SEARCH_BURST, bucket.tokens + ((now - bucket.at) / 1000) * SEARCHES_PER_SECOND);
    bucket.at = now;
    const allowed = bucket.tokens >= 1;
    if (allowed) bucket.tokens -= 1;
    this.buckets.set(publisherId, bucket);
    if (this.buckets.size > MAX_BUCKETS) {
      const oldest = this.buckets.keys().next();
      if (!oldest.done) this.buckets.delete(oldest.value);
    }
    return allowed;
  }
}
