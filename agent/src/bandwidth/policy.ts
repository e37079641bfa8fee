/**
 * Yielding to the household. The box serves viewers only from the upload the household leaves idle:
 *   household upload = interface upload rate − what nginx itself sent to viewers, over the last period
 *   idle upload      = max(0, measured upload capacity − household upload)     (BANDWIDTH-IDLE-UP)
 *   viewer budget    = max(VIEWER_FLOOR_MBIT, VIEWER_SHARE × idle upload)
 * nginx has no aggregate rate limit, so each response is paced at budget ÷ the connections open when
 * it starts ($connections_active), and limit_conn caps them at VIEWER_MAX_CONNECTIONS: one viewer
 * alone gets the whole budget, many share it. Until household use is measured the household is taken
 * as idle; until capacity is known the floor applies. nginx is reloaded only when the budget moves by
 * more than a fifth, and not more than twice a minute.
 */
export interface UsageSample {
  /** The interface counters' bytes sent, and the bytes nginx reported sending, at one instant (ms). */
  atMs: number;
  netTxBytes: number;
  servedBytes: number;
}

export function householdUploadMbit(prev: UsageSample, cur: UsageSample): number | undefined {
  const seconds = (cur.atMs - prev.atMs) / 1000;
  if (seconds <= 0) return undefined;
  const net = cur.netTxBytes - prev.netTxBytes;
  if (net < 0) return undefined; // counters reset (interface restarted): skip this period
  const served = Math.max(0, cur.servedBytes - prev.servedBytes);
  return (Math.max(0, net - served) * 8) / seconds / 1e6;
}

export function idleUploadMbit(capacityUpMbit: number, householdMbit: number): number {
  return Math.max(0, capacityUpMbit - householdMbit);
}

export interface ViewerPolicy {
  share: number;
  floorMbit: number;
  maxConnections: number;
}

export function viewerBudgetMbit(idleMbit: number | undefined, p: ViewerPolicy): number {
  return idleMbit === undefined ? p.floorMbit : Math.max(p.floorMbit, p.share * idleMbit);
}

/** nginx's limit_rate for one response while `connections` are open, bytes per second. */
export function perConnectionRate(budgetMbit: number, connections: number): number {
  return Math.max(1, Math.floor((budgetMbit * 1e6) / 8 / Math.max(1, connections)));
}

export const MATERIAL_CHANGE = 0.2;
export const MIN_RELOAD_INTERVAL_MS = 30_000;

export function changedMaterially(previousMbit: number, nextMbit: number): boolean {
  if (previousMbit <= 0) return nextMbit > 0;
  return Math.abs(nextMbit - previousMbit) / previousMbit > MATERIAL_CHANGE;
}

/** A figure in Mbit/s as the EXCHANGE and the logs carry it: two decimals. */
export function roundMbit(n: number): number {
  return Math.round(n * 100) / 100;
}
