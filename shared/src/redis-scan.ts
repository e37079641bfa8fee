/**
 * SCAN over a role's Redis, batch by batch. On a Redis Cluster a SCAN reads the keyspace of the one node
 * it is sent to (ioredis sends a keyless command to any node), so every master is scanned in turn: keys of
 * one namespace share a slot (redis-keys.ts) but the node serving that slot can change with a failover or
 * a resharding, and asking each master costs one empty round trip per node.
 */
import type { Redis } from 'ioredis';
import { clusterOf } from './redis.js';

/** Batches of the keys matching `pattern`, `count` asked per round trip. A key may come twice (SCAN's rule). */
export async function* scanKeys(redis: Redis, pattern: string, count: number): AsyncGenerator<string[]> {
  const cluster = clusterOf(redis);
  const nodes = cluster ? cluster.nodes('master') : [redis];
  if (cluster && nodes.length === 0) throw new Error('the Redis Cluster lists no master yet');
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', count);
      cursor = next;
      if (batch.length > 0) yield batch;
    } while (cursor !== '0');
  }
}
