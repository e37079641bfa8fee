/**
 * Who may see the dashboard and the API: operators from DASHBOARD_USERS with a session cookie, and
 * scripts with a bearer token from API_TOKENS. Sessions live in Redis ({ID}:SESSION:<id>, expiring
 * after SESSION_HOURS) with their own CSRF token; the cookie is HttpOnly and SameSite=Strict. Password
 * checks always run scrypt, known user or not, so timing does not reveal user names, and failed
 * logins are limited per address.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import { hashPassword, verifyPassword } from '../../../shared/src/password.js';
import type { EntranceKeys } from '../../../shared/src/redis-keys.js';
import { bearerTokenOf, createBearerCheck } from '../bearer.js';
import type { BearerVerdict } from '../bearer.js';
import { readBodyText } from '../respond.js';

export const SESSION_COOKIE = 'dandelion_session';
export const LOGIN_CSRF_COOKIE = 'dandelion_login_csrf';
const MAX_FAILED_LOGINS = 10;
const FAILED_LOGIN_WINDOW_MS = 10 * 60_000;

export interface Principal {
  username: string;
  /** The session's CSRF token; undefined for bearer tokens (no cookie, so no CSRF risk). */
  csrf: string | undefined;
  sessionId: string | undefined;
}

export function cookiesOf(req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return out;
}

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
  private readonly failures = new Map<string, number[]>();
  private readonly checkToken: (req: IncomingMessage) => Promise<BearerVerdict>;
  private dummyHash: Promise<string> | undefined;

  constructor(private readonly deps: AuthDeps) {
    this.checkToken = createBearerCheck(deps.apiTokens, deps.now);
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  /** Too many failed logins from this address lately. */
  throttled(ip: string): boolean {
    const recent = (this.failures.get(ip) ?? []).filter((t) => this.now() - t < FAILED_LOGIN_WINDOW_MS);
    this.failures.set(ip, recent);
    return recent.length >= MAX_FAILED_LOGINS;
  }

  /** A new session for a right user name and password, or undefined. */
  async login(username: string, password: string, ip: string): Promise<{ sessionId: string; csrf: string } | undefined> {
    if (this.throttled(ip)) return undefined;
    const user = this.deps.users.find((u) => u.USERNAME === username);
    // Unknown users still cost one scrypt, against a throw-away hash.
    this.dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
    const ok = await verifyPassword(password, user?.PASSWORD_HASH ?? (await this.dummyHash));
    if (!ok || !user) {
      this.failures.get(ip)?.push(this.now()) ?? this.failures.set(ip, [this.now()]);
      return undefined;
    }
    this.failures.delete(ip);
    const sessionId = randomBytes(32).toString('hex');
    const csrf = randomBytes(24).toString('hex');
    const key = this.deps.keys.session(sessionId);
    await this.deps.redis.multi().hset(key, { USERNAME: user.USERNAME, CSRF: csrf }).expire(key, Math.ceil(this.deps.sessionSeconds)).exec();
    return { sessionId, csrf };
  }

  async logout(principal: Principal): Promise<void> {
    if (principal.sessionId) await this.deps.redis.del(this.deps.keys.session(principal.sessionId));
  }

  /**
   * The caller, from its bearer token or session cookie; undefined when neither is valid, 'busy' when
   * too many token checks are running (the caller answers 429).
   */
  async authenticate(req: IncomingMessage): Promise<Principal | 'busy' | undefined> {
    if (bearerTokenOf(req) !== undefined) {
      const verdict = await this.checkToken(req);
      if (verdict === 'busy') return 'busy';
      return verdict === 'ok' ? { username: 'api-token', csrf: undefined, sessionId: undefined } : undefined;
    }
    const sessionId = cookiesOf(req).get(SESSION_COOKIE);
    if (!sessionId || !/^[0-9a-f]{64}$/.test(sessionId)) return undefined;
    const session = await this.deps.redis.hgetall(this.deps.keys.session(sessionId));
    if (!session.USERNAME || !session.CSRF) return undefined;
    // A user removed from the config loses access at once.
    if (!this.deps.users.some((u) => u.USERNAME === session.USERNAME)) return undefined;
    return { username: session.USERNAME, csrf: session.CSRF, sessionId };
  }
}

export function sessionCookie(sessionId: string, maxAgeSeconds: number): string {
  return `${SESSION_COOKIE}=${sessionId}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.ceil(maxAgeSeconds)}`;
}

export function clearedSessionCookie(): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
}

/** Read a small urlencoded form body (login, logout); larger bodies are refused. */
export async function readForm(req: IncomingMessage, maxBytes = 8 * 1024): Promise<URLSearchParams | undefined> {
  const text = await readBodyText(req, maxBytes);
  return text === undefined ? undefined : new URLSearchParams(text);
}

export function redirect(res: ServerResponse, location: string, headers: Record<string, string | string[]> = {}): void {
  res.writeHead(303, { location, 'cache-control': 'no-store', 'content-length': 0, ...headers });
  res.end();
}
