/**
 * One chunk's commit as one script call: every TRAFFIC_FLOW hash with its expiry, the pending aggregates
 * and the new read position, applied atomically (as a MULTI would) but sent as one command, so a crash
 * or restart neither re-reads nor loses a line. One command, not a MULTI of two commands per line: the
 * client pays an object and a promise for every command, and that would bound how fast the tail can read
 * (bench/README.md).
 */
import type { Redis } from 'ioredis';
import type { BoxKeys } from '../../../shared/src/redis-keys.js';
import type { TrafficBatch } from './batch.js';
import type { Position } from './log-file.js';

/**
 * KEYS: offset hash, pending hash. ARGV: TTL, record key prefix, n records × (rid, datetime, url, status,
 * size), m aggregates × (id, json), then path, inode, offset.
 */
const COMMIT_SCRIPT = `
local ttl = ARGV[1]
local prefix = ARGV[2]
local n = tonumber(ARGV[3])
local i = 4
for _ = 1, n do
  local key = prefix .. ARGV[i]
  redis.call('HSET', key, 'datetime', ARGV[i + 1], 'url', ARGV[i + 2], 'status', ARGV[i + 3], 'size', ARGV[i + 4])
  redis.call('EXPIRE', key, ttl)
  i = i + 5
end
local m = tonumber(ARGV[i])
i = i + 1
for _ = 1, m do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  i = i + 2
end
redis.call('HSET', KEYS[1], 'path', ARGV[i], 'inode', ARGV[i + 1], 'offset', ARGV[i + 2])
return n`;

type CommitCapable = Redis & {
  dandelionTrafficCommit(offsetKey: string, pendingKey: string, args: Array<string | number>): Promise<number>;
};

function hasCommit(redis: Redis): redis is CommitCapable {
  return 'dandelionTrafficCommit' in redis;
}

/** Stores `batch`, read from `file` between the offsets `start` and `end`, together with `end` as the new position. */
export type CommitChunk = (file: Position, start: number, end: number, batch: TrafficBatch) => Promise<void>;

export function trafficCommitter(redis: Redis, keys: BoxKeys, recordTtlSeconds: number): CommitChunk {
  if (!hasCommit(redis)) redis.defineCommand('dandelionTrafficCommit', { numberOfKeys: 2, lua: COMMIT_SCRIPT });
  if (!hasCommit(redis)) throw new Error('ioredis did not define the traffic commit command');
  const scripted: CommitCapable = redis;
  return async (file, start, end, batch) => {
    const args: Array<string | number> = [recordTtlSeconds, keys.trafficFlow(''), batch.records.length];
    for (const { rid, record } of batch.records) args.push(rid, record.datetime ?? '', record.url, record.status, record.size);
    const aggregates = batch.aggregates(`${file.inode}:${start}-${end}`);
    args.push(aggregates.length);
    for (const a of aggregates) args.push(a.ID, JSON.stringify(a));
    args.push(file.path, file.inode, end);
    await scripted.dandelionTrafficCommit(keys.trafficOffset, keys.trafficPending, args); // ioredis flattens the array
  };
}
