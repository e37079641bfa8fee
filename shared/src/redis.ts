/**
 * The Redis client of a role, from its config: REDIS_URL when set (redis://, rediss://, or
 * unix:///path?db=N for a socket), else REDIS_HOST, REDIS_PORT and DB as in the original.
 */
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import type { Logger } from './log.js';

export interface RedisConfig {
  REDIS_URL: string | undefined;
  REDIS_HOST: string;
  REDIS_PORT: number;
  DB: number;
}

export function redisOptionsOf(cfg: RedisConfig): RedisOptions {
  const common: RedisOptions = {
    // Commands wait for a reconnect rather than failing at once; a role keeps running while Redis restarts.
    maxRetriesPerRequest: 3,
    retryStrategy: (times) => Math.min(100 * 2 ** times, 5_000),
    lazyConnect: true,
    // Commands issued in the same tick (many sockets' heartbeats at once) go out as one write: less
    // client CPU per command, which is what limits an entrance's EXCHANGE rate (bench/README.md).
    enableAutoPipelining: true,
  };
  if (cfg.REDIS_URL === undefined) return { ...common, host: cfg.REDIS_HOST, port: cfg.REDIS_PORT, db: cfg.DB };
  const url = new URL(cfg.REDIS_URL);
  const auth: RedisOptions = {};
  if (url.username) auth.username = decodeURIComponent(url.username);
  if (url.password) auth.password = decodeURIComponent(url.password);
  const dbParam = Number(url.searchParams.get('db') ?? 0) || 0;
  if (url.protocol === 'unix:') return { ...common, ...auth, path: url.pathname, db: dbParam };
  const db = Number(url.pathname.replace(/^\//, '')) || dbParam;
  const opts: RedisOptions = { ...common, ...auth, host: url.hostname, port: Number(url.port || 6379), db };
  if (url.protocol === 'rediss:') opts.tls = {};
  return opts;
}

/** Connect, or throw with the reason, so `main` can say why it cannot start. */
export async function connectRedis(cfg: RedisConfig, log: Logger): Promise<Redis> {
  const redis = new Redis(redisOptionsOf(cfg));
  // ioredis emits 'error' on every failed reconnect; without a listener Node would crash the process.
  // Reconnects are retried and commands fail with their own errors, so one line per 30 s is enough.
  let lastLogged = 0;
  redis.on('error', (err: Error) => {
    if (Date.now() - lastLogged < 30_000) return;
    lastLogged = Date.now();
    log.warn({ err: err.message }, 'redis connection error; retrying');
  });
  // A failed first connect would otherwise leave the client reconnecting forever behind the rejection.
  await redis.connect().catch((err: unknown) => {
    redis.disconnect();
    throw err;
  });
  return redis;
}

/** Run a MULTI (or pipeline) and throw the first command error: ioredis reports them per command, not as a rejection. */
export async function execOrThrow(result: Promise<Array<[Error | null, unknown]> | null>): Promise<Array<[Error | null, unknown]>> {
  const rows = await result;
  if (rows === null) throw new Error('redis transaction aborted');
  for (const [err] of rows) if (err) throw err;
  return rows;
}
