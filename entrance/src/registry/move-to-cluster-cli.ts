/**
 * `dandelion entrance move-to-cluster`: copy a fleet's keys from its single Redis (REDIS_URL, or REDIS_HOST,
 * REDIS_PORT and DB) to the Redis Cluster REDIS_CLUSTER_NODES names, both from the same config, before the
 * entrances are restarted on the cluster (docs/scale.md, "Redis Cluster").
 */
import { UsageError } from '../../../shared/src/cli.js';
import type { EntranceConfig } from '../../../shared/src/config/schemas.js';
import { createLogger } from '../../../shared/src/log.js';
import { connectRedis } from '../../../shared/src/redis.js';
import { resolveEntranceId } from '../identity.js';
import { moveToCluster } from './move-to-cluster.js';

export const MOVE_TO_CLUSTER_HELP = `Moving to a Redis Cluster (docs/scale.md):
  dandelion entrance move-to-cluster [--namespace ID,…]
                         copy every key of this entrance and its FLEET_ID (or of the namespaces
                         listed) and the fleet-wide keys from REDIS_URL (or REDIS_HOST/PORT/DB) to
                         REDIS_CLUSTER_NODES`;

export function isMoveToClusterCommand(words: string[]): boolean {
  return words[0] === 'move-to-cluster';
}

export async function moveToClusterCommand(config: EntranceConfig, words: string[], values: Record<string, unknown>): Promise<void> {
  if (words.length > 1) throw new UsageError(`entrance: unknown command "${words.join(' ')}"\n${MOVE_TO_CLUSTER_HELP}`);
  if (config.REDIS_CLUSTER_NODES.length === 0) throw new UsageError('entrance move-to-cluster: set REDIS_CLUSTER_NODES to the cluster to move to');
  const listed = typeof values.namespace === 'string' ? values.namespace.split(',').map((s) => s.trim()).filter(Boolean) : [];
  const id = await resolveEntranceId(config.ID, config.RUN_DIRECTORY);
  // The fleet's registry (FLEET_ID) and this entrance's own keys.
  const namespaces = listed.length > 0 ? listed : [...new Set([config.FLEET_ID ?? id, id])];
  const log = createLogger({ level: 'warn', role: 'entrance', destination: process.stderr });
  const from = await connectRedis({ ...config, REDIS_CLUSTER_NODES: [] }, log);
  const to = await connectRedis(config, log).catch((err: Error) => {
    from.disconnect();
    throw new Error(`cannot reach the cluster: ${err.message}`);
  });
  try {
    const report = await moveToCluster({ from, to, namespaces });
    const line = { NAMESPACES: namespaces, COPIED: report.copied, INDEXES: report.indexes, MEMBERS: report.members, SKIPPED: report.skipped };
    process.stdout.write(values.json === true ? `${JSON.stringify(line)}\n`
      : `moved ${report.copied} keys and ${report.members} registry entries of ${namespaces.join(', ')}; ${report.skipped} keys of other roles left\n`);
  } finally {
    from.disconnect();
    to.disconnect();
  }
}
