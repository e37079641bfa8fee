/**
 * Publisher accounts for tests, made as an operator would (PublisherAccounts.create) in the Redis of each
 * entrance the publisher will search, so publishers started by the helpers authenticate with
 * REQUIRE_PUBLISHER_AUTH on, as it is by default. startEntrance remembers each entrance's Redis here.
 */
import { Redis } from 'ioredis';
import { PublisherAccounts } from '../../entrance/src/publishers/accounts.js';
import { publisherAccountKeys } from '../../shared/src/redis-keys.js';
import { redisOptionsOf } from '../../shared/src/redis.js';

/** Entrance WebSocket URL → the REDIS_URL it was started with. */
const entranceRedis = new Map<string, string>();
/** `<REDIS_URL> <publisher ID>` → the token made there, so a publisher started again reuses it. */
const tokens = new Map<string, string>();

export function rememberEntrance(wsUrl: string, redisUrl: string): void {
  entranceRedis.set(wsUrl, redisUrl);
}

function client(redisUrl: string): Redis {
  return new Redis({ ...redisOptionsOf({ REDIS_URL: redisUrl, REDIS_HOST: '127.0.0.1', REDIS_PORT: 6379, DB: 0 }), maxRetriesPerRequest: 1 });
}

/**
 * A token for `publisherId` valid at every entrance in `entranceUrls` (those started by startEntrance; others are
 * taken to share `fallbackRedisUrl`). Made in the first Redis and copied key for key to the others, so one token
 * opens them all, as one account would in a fleet sharing a Redis.
 */
export async function publisherToken(publisherId: string, entranceUrls: readonly string[], fallbackRedisUrl: string): Promise<string> {
  const redisUrls = [...new Set(entranceUrls.map((u) => entranceRedis.get(u) ?? fallbackRedisUrl))];
  const [first = fallbackRedisUrl, ...others] = redisUrls;
  const cached = tokens.get(`${first} ${publisherId}`);
  if (cached !== undefined) return cached;
  const r = client(first);
  try {
    const created = await new PublisherAccounts(r).create(publisherId, 2e9);
    if (!created) throw new Error(`${publisherId} already has an account in ${first} made outside the test helpers`);
    const dumped = await r.dumpBuffer(publisherAccountKeys().account(publisherId));
    for (const other of others) {
      const o = client(other);
      await o.restore(publisherAccountKeys().account(publisherId), 0, dumped, 'REPLACE').finally(() => o.disconnect());
    }
    tokens.set(`${first} ${publisherId}`, created.token);
    return created.token;
  } finally {
    r.disconnect();
  }
}
