/**
 * Who may see the dashboard and the API: operators from DASHBOARD_USERS with a session cookie, and
 * scripts with a bearer token from API_TOKENS. Sessions live in Redis ({ID}:SESSION:<id>, expiring
 * after SESSION_HOURS) with their own CSRF token; the cookie is HttpOnly and SameSite=Strict, and Secure
 * when the request came over TLS. Password checks always run scrypt, known user or not, so timing does
 * not reveal user names.
 *
 * Login attempts are limited per client (an IPv4 address, an IPv6 /64) in Redis, so every entrance
 * sharing it counts together. An attempt is counted before its password is checked, and refused
 * unchecked once MAX_FAILED_LOGINS are counted in the window: checking first and counting after let
 * 200 parallel attempts all be checked before the first failure was written. A right password clears
 * the count. Checks running at once are capped per client, per user name and in all, so a burst costs a
 * few scrypt runs (16 MiB each), not hundreds.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';
import { hashPassword, verifyPassword } from '../../../shared/src/password.js';
import { clientBlockOf } from '../../../shared/src/peer-address.js';
import type { EntranceKeys } from '../../../shared/src/redis-keys.js';
import { bearerTokenOf, createBearerCheck } from '../bearer.js';
import type { BearerVerdict, WithHeaders } from '../bearer.js';
import { SESSION_COOKIE } from './cookies.js';
import { defineScripts } from '../../../shared/src/redis-scripts.js';
/** Login attempts one client may have counted in FAILED_LOGIN_WINDOW_MS (a right one clears them). */
export const MAX_FAILED_LOGINS = 10;
export const FAILED_LOGIN_WINDOW_MS = 10 * 60_000;
/** Password checks running at once for one client, and for one user name; more are refused as busy. */
export const MAX_CHECKS_PER_CLIENT = 2;
export const MAX_CHECKS_PER_USER = 2;
/** Password checks running at once in all (each scrypt takes 16 MiB and tens of ms). */
const MAX_CHECKS = 8;

/**
 * Count one attempt in the client's window, unless the window is full. KEYS[1]: sorted set of attempt
 * IDs scored by time (ms); ARGV: now, window (ms), limit, attempt ID. Returns {1, 0} when counted, else
 * {0, ms until the oldest attempt leaves the window}. The key expires with the window: a stranger's
 * attempts do not stay.
 */
const COUNT_ATTEMPT_SCRIPT = `
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, math.max(1, math.ceil(tonumber(oldest[2]) + window - now))}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return {1, 0}
`;

interface CountCapable {
  dandelionLoginAttempt(key: string, now: number, windowMs: number, limit: number, attemptId: string): Promise<[number, number]>;
}

/** Why a login did not give a session: a wrong name or password, too many attempts lately, or too many checks running. */
export type LoginRefusal = { reason: 'wrong' } | { reason: 'throttled' | 'busy'; retryAfterSeconds: number };

export interface Principal {
  username: string;
  /** The session's CSRF token; undefined for bearer tokens (no cookie, so no CSRF risk). */
  csrf: string | undefined;
  sessionId: string | undefined;
}

/** A request as authenticate() reads it: its headers, and its cookies as @fastify/cookie parsed them. */
export interface Credentials extends WithHeaders {
  cookies: Record<string, string | undefined>;
}

/** Whether two secrets (CSRF tokens) are equal, in time that does not tell how much of them matched. */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface AuthDeps {
  redis: Redis;
  keys: EntranceKeys;
  users: ReadonlyArray<{ USERNAME: string; PASSWORD_HASH: string }>;
  apiTokens: readonly string[];
  sessionSeconds: number;
  now?: () => number;
}

export class Auth {
  private readonly checkToken: (req: WithHeaders) => Promise<BearerVerdict>;
  private readonly redis: Redis & CountCapable;
  private dummyHash: Promise<string> | undefined;
  /** Checks running now, by client and by user name (entries only while non-zero), and in all. */
  private readonly checksByClient = new Map<string, number>();
  private readonly checksByUser = new Map<string, number>();
  private checks = 0;

  constructor(private readonly deps: AuthDeps) {
    this.checkToken = createBearerCheck(deps.apiTokens, deps.now);
    this.redis = defineScripts<CountCapable>(deps.redis, { dandelionLoginAttempt: { numberOfKeys: 1, lua: COUNT_ATTEMPT_SCRIPT } });
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  /**
   * A new session for a right user name and password, or why not. The slots are taken and the attempt
   * counted before scrypt runs; nothing between the check and the count awaits, so parallel attempts
   * cannot all pass the check.
   */
  async login(username: string, password: string, ip: string): Promise<{ sessionId: string; csrf: string } | LoginRefusal> {
    const client = clientBlockOf(ip);
    const release = this.takeCheckSlot(client, username);
    if (release === undefined) return { reason: 'busy', retryAfterSeconds: 1 };
    try {
      const failuresKey = this.deps.keys.loginFailures(client);
      const [counted, waitMs] = await this.redis.dandelionLoginAttempt(failuresKey, this.now(), FAILED_LOGIN_WINDOW_MS, MAX_FAILED_LOGINS, randomBytes(8).toString('hex'));
      if (counted !== 1) return { reason: 'throttled', retryAfterSeconds: Math.ceil(waitMs / 1000) };
      const user = this.deps.users.find((u) => u.USERNAME === username);
      // Unknown users still cost one scrypt, against a throw-away hash.
      this.dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
      const ok = await verifyPassword(password, user?.PASSWORD_HASH ?? (await this.dummyHash));
      if (!ok || !user) return { reason: 'wrong' };
      await this.redis.del(failuresKey);
      return await this.newSession(user.USERNAME);
    } finally {
      release();
    }
  }

  /** A check slot for this client and user name, or undefined when either (or the whole entrance) has too many running. */
  private takeCheckSlot(client: string, username: string): (() => void) | undefined {
    const byClient = this.checksByClient.get(client) ?? 0;
    const byUser = this.checksByUser.get(username) ?? 0;
    if (this.checks >= MAX_CHECKS || byClient >= MAX_CHECKS_PER_CLIENT || byUser >= MAX_CHECKS_PER_USER) return undefined;
    this.checks += 1;
    this.checksByClient.set(client, byClient + 1);
    this.checksByUser.set(username, byUser + 1);
    return () => {
      this.checks -= 1;
      decrement(this.checksByClient, client);
      decrement(this.checksByUser, username);
    };
  }

  private async newSession(username: string): Promise<{ sessionId: string; csrf: string }> {
    const sessionId = randomBytes(32).toString('hex');
    const csrf = randomBytes(24).toString('hex');
    const key = this.deps.keys.session(sessionId);
    await this.deps.redis.multi().hset(key, { USERNAME: username, CSRF: csrf }).expire(key, Math.ceil(this.deps.sessionSeconds)).exec();
    return { sessionId, csrf };
  }

  async logout(principal: Principal): Promise<void> {
    if (principal.sessionId) await this.deps.redis.del(this.deps.keys.session(principal.sessionId));
  }

  /**
   * The caller, from its bearer token or session cookie; undefined when neither is valid, 'busy' when
   * too many token checks are running (the caller answers 429).
   */
  async authenticate(req: Credentials): Promise<Principal | 'busy' | undefined> {
    if (bearerTokenOf(req) !== undefined) {
      const verdict = await this.checkToken(req);
      if (verdict === 'busy') return 'busy';
      return verdict === 'ok' ? { username: 'api-token', csrf: undefined, sessionId: undefined } : undefined;
    }
    const sessionId = req.cookies[SESSION_COOKIE];
    if (!sessionId || !/^[0-9a-f]{64}$/.test(sessionId)) return undefined;
    const session = await this.deps.redis.hgetall(this.deps.keys.session(sessionId));
    if (!session.USERNAME || !session.CSRF) return undefined;
    // A user removed from the config loses access at once.
    if (!this.deps.users.some((u) => u.USERNAME === session.USERNAME)) return undefined;
    return { username: session.USERNAME, csrf: session.CSRF, sessionId };
  }
}

function decrement(counts: Map<string, number>, key: string): void {
  const n = (counts.get(key) ?? 1) - 1;
  if (n <= 0) counts.delete(key);
  else counts.set(key, n);
}
