/**
 * What the fuzz suite allows a role to keep after it, in one place.
 *
 * PROVISIONAL CAPS. Issue 14 item 3 ("nothing a stranger sends stays") is being done on branch `keys`:
 * records written for unauthenticated peers (publisher records at the entrance, SUBSCRIBE/EXCHANGE per
 * publisher at the box) get a TTL and a cap on their number. Until that lands these numbers stand in for
 * its caps; when it does, set them from its constants (and import them rather than copying them).
 * They count "lasting" records (harness.ts, redisRecords): entries of keys that have no TTL or one longer
 * than LINGER_SECONDS, so a capped-and-expiring record still counts until it expires, as it should.
 */
export const LASTING_RECORDS_CAP = {
  /** Publisher records (PUBLISHERS hash fields, ORIGIN keys) that SEARCH from strangers may leave. */
  entrance: 1_000,
  /** SUBSCRIBE and EXCHANGE records of publishers that did the PUBLISH handshake (two per publisher). */
  agent: 2 * 1_000,
  /** The publisher takes nothing from strangers into Redis. */
  publisher: 0,
} as const;

/** RSS after the fuzz may be at most this many times the idle RSS measured after the warm-up. */
export const RSS_GROWTH_LIMIT = 1.5;
