/**
 * When the port mapper next looks at the router: every check period (to notice a new gateway, a new
 * external address or a router that restarted and lost the mappings), sooner when a lease is half over
 * (renewing at half the lease leaves the other half for retries, as RFC 6886 advises), and after failed
 * attempts less and less often, so a home whose router maps nothing is not sent a search every heartbeat.
 */

/** The longest wait between attempts on a router that maps nothing. */
export const MAX_RETRY_MS = 5 * 60_000;

/** When a mapping granted at `grantedAtMs` for `leaseSeconds` should be renewed; undefined for a permanent one (0). */
export function renewalDueMs(grantedAtMs: number, leaseSeconds: number): number | undefined {
  return leaseSeconds > 0 ? grantedAtMs + (leaseSeconds * 1000) / 2 : undefined;
}

export interface WakeInputs {
  nowMs: number;
  checkEveryMs: number;
  /** The earliest renewal due among the mappings held; undefined with none or only permanent ones. */
  renewalDueMs: number | undefined;
  /** Attempts in a row that mapped nothing. */
  failures: number;
}

/** Milliseconds until the next look at the router. */
export function nextWakeInMs(i: WakeInputs): number {
  // The first retry comes after one period (a router restarting is back by then), then less and less often.
  const base = i.failures <= 1 ? i.checkEveryMs : Math.min(i.checkEveryMs * 2 ** (i.failures - 1), Math.max(MAX_RETRY_MS, i.checkEveryMs));
  if (i.renewalDueMs === undefined) return base;
  return Math.max(0, Math.min(base, i.renewalDueMs - i.nowMs));
}
