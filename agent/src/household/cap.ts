/**
 * UPLOAD_CAP_MBIT on nginx's pacing: each response's limit_rate (by the connections open when it starts)
 * is at most the cap shared by those connections, so all viewers together stay under the cap whatever
 * the viewer budget says. The cap is the household's hard ceiling: it wins over VIEWER_FLOOR_MBIT too.
 */
import { perConnectionRate } from '../bandwidth/policy.js';

/** `rates` (bytes/s by open connections, index 0 = default for `maxConnections`) under `capMbit` (0 = none). */
export function cappedRates(rates: readonly number[], capMbit: number, maxConnections: number): number[] {
  if (capMbit <= 0) return [...rates];
  return rates.map((rate, n) => Math.min(rate, perConnectionRate(capMbit, n === 0 ? maxConnections : n)));
}
