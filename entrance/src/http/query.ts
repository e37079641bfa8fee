/** Numbers in a query string, read as the dashboard API always has: anything Number() takes that is finite. */
import { HttpError } from '../../../shared/src/http-app.js';

/**
 * The query parameter `name` as a number, `fallback` when absent or empty. Not a JSON-schema number:
 * query values are strings and the schema does not coerce them.
 */
export function numberQuery<Q extends object>(query: Q, name: keyof Q & string, fallback: number): number {
  const raw: unknown = query[name];
  if (raw === undefined || raw === '') return fallback;
  const n = typeof raw === 'string' ? Number(raw) : Number.NaN;
  if (!Number.isFinite(n)) throw new HttpError(400, 'E_FORMAT', `${name} must be a number`);
  return n;
}
