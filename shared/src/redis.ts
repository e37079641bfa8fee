/**
 * The Redis client of a role, from its config: a Redis Cluster when REDIS_CLUSTER_NODES lists nodes,
 * else REDIS_URL when set (redis://, rediss://, or unix:///path?db=N for a socket), else REDIS_HOST,
 * REDIS_PORT and DB as in the original.
 */
import { Cluster, Redis } from 'ioredis';
import type { ClusterOptions, RedisOptions } from 'ioredis';
import type { Logger } from './log.js';
import { LogThrottle } from './log-throttle.js';
import type { KeyLayout } from './redis-keys.js';

export interface RedisConfig {
  REDIS_URL: string | undefined;
  REDIS_HOST: string;
  REDIS_PORT: number;
  DB: number;
  /** host:port of Redis Cluster nodes; empty or absent: one Redis. */
  REDIS_CLUSTER_NODES?: readonly string[];
}

/** Which key layout the role's Redis needs (redis-keys.ts): hash-tagged keys on a cluster, the original's names on one Redis. */
export function keyLayoutOf(cfg: RedisConfig): KeyLayout {
  return (cfg.REDIS_CLUSTER_NODES ?? []).length > 0 ? 'cluster' : 'single';
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

/** The key layout a connected client needs: the role's code gets its client, not its config. */
export function keyLayoutOfClient(redis: Redis): KeyLayout {
  return clusterOf(redis) ? 'cluster' : 'single';
}

/** The Cluster behind a client typed as Redis (newClient), if it is one. */
export function clusterOf(redis: Redis): Cluster | undefined {
  const client: unknown = redis;
  return client instanceof Cluster ? client : undefined;
}

/**
 * A second connection like `redis` (for SUBSCRIBE, which takes a connection over), not yet connected.
 * Redis and Cluster take different arguments to duplicate().
 */
export function duplicateClient(redis: Redis): Redis {
  const cluster = clusterOf(redis);
  if (cluster) return cluster.duplicate([], { lazyConnect: true }) as unknown as Redis;
  return redis.duplicate({ lazyConnect: true });
}

/** ioredis Cluster options for REDIS_CLUSTER_NODES: the same retry and pipelining choices as one Redis, for every node. */
export function clusterOptionsOf(): ClusterOptions {
  const { lazyConnect, enableAutoPipelining, retryStrategy, ...node } = redisOptionsOf({ REDIS_URL: undefined, REDIS_HOST: '', REDIS_PORT: 0, DB: 0 });
  delete node.host;
  delete node.port;
  delete node.db; // a cluster has only database 0
  return {
    lazyConnect,
    enableAutoPipelining,
    clusterRetryStrategy: retryStrategy,
    // After a failover the new master answers MOVED/CLUSTERDOWN for a moment: retry rather than fail the command.
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 300,
    // This client's own list (redis-scripts.ts adds to it), not the library's shared default.
    autoPipeliningIgnoredCommands: [],
    redisOptions: node,
  };
}

/** `host:port` (or `[v6]:port`) as ioredis's node address. */
export function clusterNodeOf(hostPort: string): { host: string; port: number } {
  const at = hostPort.lastIndexOf(':');
  return { host: hostPort.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(hostPort.slice(at + 1)) };
}

/**
 * The client the role's code is written against. A Cluster answers the same commands, routed by each key's
 * slot; code that must work on both keeps every MULTI, pipeline and script within one slot (redis-keys.ts).
 */
function newClient(cfg: RedisConfig): Redis {
  const nodes = cfg.REDIS_CLUSTER_NODES ?? [];
  if (nodes.length === 0) return new Redis(redisOptionsOf(cfg));
  // Cluster and Redis share their command interface (ioredis's Commander) but not a declared type, and
  // every module names `Redis`; this is the one place the two meet.
  return new Cluster(nodes.map(clusterNodeOf), clusterOptionsOf()) as unknown as Redis;
}

/** How long a Redis Cluster that answers may stay not ready (slots not all served yet) before a start gives up. */
export const CLUSTER_READY_WITHIN_MS = 60_000;
/** How often a start waiting for a Redis Cluster says so. */
const CLUSTER_WAIT_LOG_MS = 10_000;

/**
 * Connect, or throw with the reason, so `main` can say why it cannot start. A Redis Cluster whose nodes
 * answer but which is not ready yet (a cluster just created, whose nodes have not all agreed on the
 * slots) is waited for, up to `clusterReadyWithinMs`, with a warning every 10 s.
 */
export async function connectRedis(cfg: RedisConfig, log: Logger, opts: { clusterReadyWithinMs?: number } = {}): Promise<Redis> {
  const redis = newClient(cfg);
  // ioredis emits 'error' on every failed reconnect; without a listener Node would crash the process.
  // Reconnects are retried and commands fail with their own errors, so one line per 30 s is enough.
  const errors = new LogThrottle(30_000);
  redis.on('error', (err: Error) => {
    const heldBack = errors.take();
    if (heldBack !== undefined) log.warn({ err: err.message, ...(heldBack > 0 ? { heldBack } : {}) }, 'redis connection error; retrying');
  });
  await connectClient(redis, log, opts);
  return redis;
}

/**
 * Connect a client made with lazyConnect (newClient, duplicateClient): a Cluster once it is ready (see
 * clusterReady). On failure the client is disconnected and the error thrown.
 */
export async function connectClient(redis: Redis, log: Logger, opts: { clusterReadyWithinMs?: number } = {}): Promise<void> {
  const cluster = clusterOf(redis);
  const connected = cluster ? clusterReady(cluster, log, opts.clusterReadyWithinMs ?? CLUSTER_READY_WITHIN_MS) : redis.connect();
  // A failed first connect would otherwise leave the client reconnecting forever behind the rejection.
  await connected.catch((err: unknown) => {
    redis.disconnect();
    throw err;
  });
}

/**
 * Connect a Cluster and wait for its 'ready' event. Cluster#connect()'s own promise is not enough: when
 * the first try reaches the nodes but the cluster is not ready (CLUSTER INFO's cluster_state is fail),
 * ioredis reconnects with a promise of its own, and the first one never settles
 * even once a later try succeeds (redis/ioredis#709): an entrance started just after `redis-cli
 * --cluster create` waited for ever, saying nothing. Nodes that cannot be reached still reject at once.
 */
function clusterReady(cluster: Cluster, log: Logger, readyWithinMs: number): Promise<void> {
  const started = Date.now();
  return new Promise<void>((resolve, reject) => {
    const settle = (err?: unknown): void => {
      clearTimeout(deadline);
      clearInterval(waiting);
      cluster.off('ready', onReady);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onReady = (): void => settle();
    const deadline = setTimeout(() => {
      settle(new Error(`the Redis Cluster answers but was not ready within ${Math.round(readyWithinMs / 1000)} s: its slots are not all served (see CLUSTER INFO on a node: cluster_state)`));
    }, readyWithinMs);
    const waiting = setInterval(() => {
      log.warn({ waitedSeconds: Math.round((Date.now() - started) / 1000) }, 'the Redis Cluster answers but is not ready yet (its slots are not all served); waiting');
    }, Math.min(CLUSTER_WAIT_LOG_MS, readyWithinMs / 2));
    cluster.once('ready', onReady);
    cluster.connect().catch(settle);
  });
}

/** Run a MULTI (or pipeline) and throw the first command error: ioredis reports them per command, not as a rejection. */
export async function execOrThrow(result: Promise<Array<[Error | null, unknown]> | null>): Promise<Array<[Error | null, unknown]>> {
  const rows = await result;
  if (rows === null) throw new Error('redis transaction aborted');
  for (const [err] of rows) if (err) throw err;
  return rows;
}
