/**
 * Moving a fleet's Redis from one server to a Redis Cluster: every key of the listed entrance namespaces and
 * of the fleet-wide namespaces is copied under its cluster name (redis-keys.ts clusterNameOf), value and
 * TTL alike (DUMP/RESTORE); a registry index is split into its shards member by member. The source is only
 * read, so a move can be repeated (targets are replaced) and the single Redis stays as it was until the
 * operator switches the entrances over (docs/scale.md, "Redis Cluster").
 */
import type { Redis } from 'ioredis';
import { clusterNameOf } from '../../../shared/src/redis-keys.js';

/** Keys asked for per SCAN step. */
const SCAN_COUNT = 1000;

export interface MoveDeps {
  /** The single Redis the fleet uses now. */
  from: Redis;
  /** A client of the cluster (connectRedis with REDIS_CLUSTER_NODES). */
  to: Redis;
  /** Namespaces to move: the entrances' IDs (and FLEET_ID), and IDs of boxes and publishers moving too. */
  namespaces: readonly string[];
}

export interface MoveReport {
  /** Keys copied whole. */
  copied: number;
  /** Registry indexes split into shards, and the members they held. */
  indexes: number;
  members: number;
  /** Keys of no listed namespace (boxes', publishers' and entrances' not listed), left where they are. */
  skipped: number;
}

export async function moveToCluster(deps: MoveDeps): Promise<MoveReport> {
  const report: MoveReport = { copied: 0, indexes: 0, members: 0, skipped: 0 };
  let cursor = '0';
  do {
    const [next, keys] = await deps.from.scan(cursor, 'COUNT', SCAN_COUNT);
    cursor = next;
    for (const key of keys) await moveKey(deps, key, report);
  } while (cursor !== '0');
  return report;
}

async function moveKey(deps: MoveDeps, key: string, report: MoveReport): Promise<void> {
  const target = clusterNameOf(key, deps.namespaces);
  if (target === undefined) {
    report.skipped++;
    return;
  }
  if ('index' in target) {
    report.members += await splitIndex(deps, key, target.index);
    report.indexes++;
    return;
  }
  const [dump, pttl] = await Promise.all([deps.from.dumpBuffer(key), deps.from.pttl(key)]);
  if (dump === null || pttl === -2) return; // expired between SCAN and DUMP
  await deps.to.restore(target.key, pttl > 0 ? pttl : 0, dump, 'REPLACE');
  report.copied++;
}

/** A registry index is a sorted set (a GEO set too: its scores are the geohashes), so its members move by score. */
async function splitIndex(deps: MoveDeps, key: string, shardKey: (boxId: string) => string): Promise<number> {
  const flat = await deps.from.zrange(key, '0', '-1', 'WITHSCORES');
  const byShard = new Map<string, string[]>();
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const id = flat[i] ?? '';
    const target = shardKey(id);
    const args = byShard.get(target);
    if (args) args.push(flat[i + 1] ?? '0', id);
    else byShard.set(target, [flat[i + 1] ?? '0', id]);
  }
  await Promise.all([...byShard].map(([target, args]) => deps.to.zadd(target, ...args)));
  return flat.length / 2;
}
