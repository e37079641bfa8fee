/**
 * Replies from pipelines, MULTI and scripts reach us as `unknown`. These check one reply's shape and
 * return it typed, or throw (a reply of another shape means the key holds something else or a script
 * changed; the caller's request fails rather than reading garbage).
 */
export class RedisReplyError extends Error {
  override name = 'RedisReplyError';
}

/** A pipeline's replies, or the error of the first command that failed. */
export function repliesOf(rows: Array<[Error | null, unknown]> | null): unknown[] {
  if (rows === null) throw new RedisReplyError('redis transaction aborted');
  return rows.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}

/** A bulk string or nil. */
export function textOrNull(reply: unknown): string | null {
  if (reply === null || typeof reply === 'string') return reply;
  throw new RedisReplyError(`expected a string or nil, got ${describe(reply)}`);
}

/** An array of bulk strings (members, IDs, WITHSCORES pairs). */
export function texts(reply: unknown): string[] {
  if (Array.isArray(reply) && reply.every((v): v is string => typeof v === 'string')) return reply;
  throw new RedisReplyError(`expected an array of strings, got ${describe(reply)}`);
}

/** An array of bulk strings or nils (HMGET, ZMSCORE). */
export function textsOrNull(reply: unknown): Array<string | null> {
  if (Array.isArray(reply) && reply.every((v): v is string | null => v === null || typeof v === 'string')) return reply;
  throw new RedisReplyError(`expected an array of strings or nils, got ${describe(reply)}`);
}

/** HGETALL's reply as ioredis gives it: field → value. */
export function stringHash(reply: unknown): Record<string, string> {
  if (typeof reply === 'object' && reply !== null && !Array.isArray(reply)) {
    const out: Record<string, string> = {};
    for (const [field, value] of Object.entries(reply)) {
      if (typeof value !== 'string') throw new RedisReplyError(`hash field ${field} is not a string`);
      out[field] = value;
    }
    return out;
  }
  throw new RedisReplyError(`expected a hash, got ${describe(reply)}`);
}

/** Rows of two strings each, such as GEOSEARCH … WITHDIST: [member, distance]. */
export function textPairs(reply: unknown): Array<[string, string]> {
  if (!Array.isArray(reply)) throw new RedisReplyError(`expected an array of pairs, got ${describe(reply)}`);
  return reply.map((row: unknown): [string, string] => {
    if (Array.isArray(row) && row.length === 2 && typeof row[0] === 'string' && typeof row[1] === 'string') return [row[0], row[1]];
    throw new RedisReplyError(`expected a pair of strings, got ${describe(row)}`);
  });
}

/** An array of integers (a script's counts). */
export function integers(reply: unknown): number[] {
  if (Array.isArray(reply) && reply.every((v): v is number => Number.isInteger(v))) return reply;
  throw new RedisReplyError(`expected an array of integers, got ${describe(reply)}`);
}

function describe(v: unknown): string {
  if (v === null) return 'nil';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return typeof v;
}
