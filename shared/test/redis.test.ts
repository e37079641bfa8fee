// A role's Redis client against a real redis-server on a unix socket: REDIS_URL picks the socket and
// the database, execOrThrow surfaces a command's error and an aborted transaction, and a Redis that is
// not there is an error (logged once) rather than a crash. A Redis Cluster that answers but is not ready
// yet is waited for (with a warning), up to a bound.
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { createLogger, silentLogger } from '../src/log.js';
import { connectRedis, execOrThrow, redisOptionsOf } from '../src/redis.js';
import { startRedis } from '../../test/helpers/redis.js';
import { startUnformedClusterNode } from '../../test/helpers/redis-cluster.js';

const FALLBACK = { REDIS_HOST: '127.0.0.1', REDIS_PORT: 6379, DB: 0 };

/** A logger at warn whose lines the test reads. */
function capturedLogger(): { log: ReturnType<typeof createLogger>; text: () => string } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { log: createLogger({ level: 'warn', role: 'test', destination }), text: () => chunks.join('') };
}

t.test('connects through REDIS_URL to the socket and database it names', async (t) => {
  const server = await startRedis(t);
  const redis = await connectRedis({ ...FALLBACK, REDIS_URL: `${server.url}?db=3` }, silentLogger());
  t.teardown(() => redis.disconnect());
  t.equal(await redis.ping(), 'PONG');
  await redis.set('dandelion:test', 'in db 3');
  const other = server.client();
  t.equal(await other.get('dandelion:test'), null, 'not in database 0');
  await other.select(3);
  t.equal(await other.get('dandelion:test'), 'in db 3', 'in database 3');
});

t.test('redisOptionsOf reads user, password, port, database and TLS from a URL', async (t) => {
  t.match(redisOptionsOf({ ...FALLBACK, REDIS_URL: 'redis://dan%40home:p%2Fss@cache.example:6380/5' }), { username: 'dan@home', password: 'p/ss', host: 'cache.example', port: 6380, db: 5 });
  t.match(redisOptionsOf({ ...FALLBACK, REDIS_URL: 'rediss://cache.example' }), { port: 6379, db: 0, tls: {} });
  t.equal(redisOptionsOf({ ...FALLBACK, REDIS_URL: 'redis://cache.example' }).tls, undefined, 'redis:// is plain');
  t.match(redisOptionsOf({ ...FALLBACK, REDIS_URL: 'unix:///run/redis.sock?db=2' }), { path: '/run/redis.sock', db: 2 });
  t.match(redisOptionsOf({ REDIS_URL: undefined, REDIS_HOST: 'redis', REDIS_PORT: 7000, DB: 1 }), { host: 'redis', port: 7000, db: 1 });
  const opts = redisOptionsOf({ ...FALLBACK, REDIS_URL: undefined });
  t.equal(opts.lazyConnect, true);
  t.equal(opts.retryStrategy?.(1), 200, 'reconnects back off');
  t.equal(opts.retryStrategy?.(20), 5_000, 'capped at 5 s');
});

t.test('execOrThrow returns the rows, throws a command\'s error, and throws when a WATCH aborts', async (t) => {
  const server = await startRedis(t);
  const redis = await connectRedis({ ...FALLBACK, REDIS_URL: server.url }, silentLogger());
  t.teardown(() => redis.disconnect());
  const rows = await execOrThrow(redis.multi().set('a', '1').incr('a').exec());
  t.same(rows, [[null, 'OK'], [null, 2]]);
  await t.rejects(execOrThrow(redis.multi().set('b', 'text').incr('b').exec()), /not an integer/, 'ioredis reports it per command; this throws it');
  t.equal(await redis.get('b'), 'text', 'the commands before it ran (MULTI is not a rollback)');
  await redis.watch('a');
  await server.client().set('a', 'changed by another client');
  await t.rejects(execOrThrow(redis.multi().set('a', 'mine').exec()), { message: 'redis transaction aborted' });
  t.equal(await redis.get('a'), 'changed by another client', 'the aborted write did not happen');
});

t.test('a Redis that is not there: connect rejects, the error is logged, and the client stops trying', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dr-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const socket = path.join(dir, 'redis.sock');
  const { log, text } = capturedLogger();
  await t.rejects(connectRedis({ ...FALLBACK, REDIS_URL: `unix://${socket}` }, log), /ENOENT|ECONNREFUSED|Connection is closed/);
  t.match(text(), /ENOENT.*redis connection error; retrying/, 'the log says why');
  // Something now listens where Redis should be: a client left reconnecting behind the rejection (every
  // 200 ms at first) would knock, and would keep a role's process from ever ending.
  let knocks = 0;
  const listener = net.createServer((conn) => {
    knocks += 1;
    conn.destroy();
  });
  await new Promise<void>((resolve) => listener.listen(socket, () => resolve()));
  await sleep(1_500);
  await new Promise<void>((resolve) => listener.close(() => resolve()));
  t.equal(knocks, 0, 'no reconnect after the rejection');
});

t.test('a Redis Cluster not ready yet is waited for: connect resolves once its slots are served', async (t) => {
  const node = await startUnformedClusterNode(t);
  const { log, text } = capturedLogger();
  const cfg = { ...FALLBACK, REDIS_URL: undefined, REDIS_CLUSTER_NODES: [node.address] };
  let settled = false;
  const connecting = connectRedis(cfg, log, { clusterReadyWithinMs: 30_000 }).finally(() => (settled = true));
  await sleep(1_500);
  t.notOk(settled, 'still waiting while the cluster serves half its slots');
  await node.takeAllSlots();
  // Before the fix, this promise never settled: ioredis's first connect() lost its resolve on the failed ready check.
  const redis = await connecting;
  t.teardown(() => redis.disconnect());
  await redis.set('dandelion:cluster-late', 'stored');
  t.equal(await redis.get('dandelion:cluster-late'), 'stored', 'commands reach the cluster');
  t.notMatch(text(), /not ready within/, 'no error was logged');
});

t.test('a Redis Cluster that stays not ready: connect rejects after the bound, saying so, and stops trying', async (t) => {
  const node = await startUnformedClusterNode(t);
  const { log, text } = capturedLogger();
  const cfg = { ...FALLBACK, REDIS_URL: undefined, REDIS_CLUSTER_NODES: [node.address] };
  await t.rejects(connectRedis(cfg, log, { clusterReadyWithinMs: 2_500 }), /Redis Cluster answers but was not ready within 3 s.*cluster_state/);
  t.match(text(), /Redis Cluster answers but is not ready yet.*waiting/, 'the wait was logged');
  // The client was disconnected, not left reconnecting behind the rejection (every 200 ms at first).
  await node.takeAllSlots();
  await sleep(1_500);
  t.equal(await node.clients(), 0, 'no client came back once the cluster was ready');
});
