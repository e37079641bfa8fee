/**
 * `Authorization: Bearer <token>` checked against hashes from `dandelion hash-password` (API_TOKENS,
 * METRICS_TOKEN). Checking a token is a deliberately slow scrypt (tens of ms, 16 MiB), so a token that
 * passed is remembered for TOKEN_CACHE_MS by its SHA-256 (never the token itself), wrong ones are never
 * remembered, and at most MAX_VERIFYING checks run at once (the same token's checks shared): a flood of
 * wrong tokens gets "busy" (429) instead of eating the entrance's memory.
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { verifyPassword } from '../../shared/src/password.js';

/** How long a token that passed the scrypt check is accepted without checking it again. */
export const TOKEN_CACHE_MS = 5 * 60_000;
/** scrypt checks of one checker running at once; more get "busy". */
const MAX_VERIFYING = 2;

export type BearerVerdict = 'ok' | 'refused' | 'busy';

/** What a token check reads of a request (a Node request and a fastify request both have it). */
export interface WithHeaders {
  headers: IncomingHttpHeaders;
}

/** The token of an `Authorization: Bearer` header, or undefined when the request has none. */
export function bearerTokenOf(req: WithHeaders): string | undefined {
  return /^Bearer +(\S{1,512}) *$/i.exec(req.headers.authorization ?? '')?.[1];
}

export function createBearerCheck(hashes: readonly string[], now: () => number = Date.now): (req: WithHeaders) => Promise<BearerVerdict> {
  const passed = new Map<string, number>(); // SHA-256 of the token → accepted until (ms)
  const checking = new Map<string, Promise<boolean>>();
  const verify = async (token: string): Promise<boolean> => {
    for (const hash of hashes) if (await verifyPassword(token, hash)) return true;
    return false;
  };
  return async (req) => {
    const token = bearerTokenOf(req);
    if (token === undefined) return 'refused';
    const key = createHash('sha256').update(token).digest('hex');
    const until = passed.get(key);
    if (until !== undefined && until > now()) return 'ok';
    passed.delete(key);
    let check = checking.get(key);
    if (!check) {
      if (checking.size >= MAX_VERIFYING) return 'busy';
      check = verify(token).finally(() => checking.delete(key));
      checking.set(key, check);
    }
    if (!(await check)) return 'refused';
    passed.set(key, now() + TOKEN_CACHE_MS);
    return 'ok';
  };
}
