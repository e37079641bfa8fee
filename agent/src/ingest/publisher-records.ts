/**
 * What a box keeps about the publishers that did the PUBLISH handshake: the original's
 * {ID}:SUBSCRIBE:<publisher> and {ID}:EXCHANGE:<publisher> hashes. Nothing on the box reads them back
 * (they are for tools written against the original), and anyone who reaches BOX_PORT can send a PUBLISH
 * with a new ID, so they are bounded:
 *
 * - each record expires PUBLISHER_RECORD_TTL after its publisher's last PUBLISH, or when the last file it
 *   sent expires if that is later (a record never disappears while its files are still served);
 * - the index {ID}:PUBLISHER_RECORDS (publisher → deadline) holds at most MAX_PUBLISHER_RECORDS; beyond
 *   that the record with the earliest deadline is dropped.
 *
 * Over the cap the oldest record is dropped rather than the new PUBLISH refused: refusing would let a
 * stranger who sends enough IDs lock every real publisher out of the box, while dropping costs only an
 * informational record, which the publisher's next PUBLISH writes again. Files are never touched.
 */
import type { Redis } from 'ioredis';
import { toHash } from '../../../shared/src/protocol/index.js';
import type { PublishRequest } from '../../../shared/src/protocol/index.js';
import type { BoxKeys } from '../../../shared/src/redis-keys.js';
import { scanKeys } from '../../../shared/src/redis-scan.js';

/** Expired index entries removed per PUBLISH (their hashes are already gone); the rest go with later ones. */
const PRUNE_BATCH = 100;

/** Keys asked for per SCAN round trip when adopting records written before the index existed. */
const SCAN_COUNT = 1000;

/*
 * KEYS: index, subscribe hash, exchange hash. ARGV: publisher ID ('' to only prune), now, deadline, cap,
 * subscribe key prefix, exchange key prefix, then the PUBLISH message as field/value pairs. A deadline is
 * never moved earlier (a file may have pushed it out). Returns how many records were dropped for the cap.
 */
const SUBSCRIBE_SCRIPT = `
local index, id = KEYS[1], ARGV[1]
local now, deadline, cap = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if id ~= '' then
  local kept = tonumber(redis.call('ZSCORE', index, id) or '0')
  if kept > deadline then deadline = kept end
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('HSET', KEYS[2], unpack(ARGV, 7))
  redis.call('HSET', KEYS[3], unpack(ARGV, 7))
  redis.call('EXPIREAT', KEYS[2], deadline)
  redis.call('EXPIREAT', KEYS[3], deadline)
  redis.call('ZADD', index, deadline, id)
end
local function drop(ids)
  for i = 1, #ids do
    redis.call('DEL', ARGV[5] .. ids[i], ARGV[6] .. ids[i])
    redis.call('ZREM', index, ids[i])
  end
  return #ids
end
drop(redis.call('ZRANGEBYSCORE', index, '-inf', now, 'LIMIT', 0, ${PRUNE_BATCH}))
local over = redis.call('ZCARD', index) - cap
if over <= 0 then return 0 end
return drop(redis.call('ZRANGE', index, 0, over - 1))`;

/* KEYS: index, subscribe hash, exchange hash. ARGV: publisher ID, deadline. Only a record still kept is extended. */
const TOUCH_SCRIPT = `
local kept = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not kept or tonumber(kept) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('EXPIREAT', KEYS[2], ARGV[2])
redis.call('EXPIREAT', KEYS[3], ARGV[2])
return 1`;

interface RecordsCapable {
  dandelionSubscribe(index: string, subscribe: string, exchange: string, args: Array<string | number>): Promise<number>;
  dandelionTouchPublisher(index: string, subscribe: string, exchange: string, id: string, deadline: number): Promise<number>;
}

function hasRecordScripts(redis: Redis): redis is Redis & RecordsCapable {
  return 'dandelionSubscribe' in redis && 'dandelionTouchPublisher' in redis;
}

export interface PublisherRecordsDeps {
  redis: Redis;
  keys: BoxKeys;
  /** PUBLISHER_RECORD_TTL. */
  ttlSeconds: number;
  /** MAX_PUBLISHER_RECORDS. */
  maxRecords: number;
  now?: () => number;
}

export interface PublisherRecords {
  /**
   * Records an earlier version left without a TTL (it kept every publisher for ever): give them the
   * TTL of a PUBLISH now, index them and apply the cap. Run once at start; resolves with how many.
   */
  adoptUnindexed(): Promise<number>;
  /** Store a PUBLISH; resolves with how many other publishers' records were dropped for the cap. */
  subscribe(msg: PublishRequest): Promise<number>;
  /**
   * The publisher stored a file living `fileTtlSeconds`: keep its record at least that long. A deadline
   * this process already wrote for it (to the second) is not written again: a stream's files come many a
   * second, and each would otherwise cost a Redis round trip before its ACK.
   */
  fileStored(publisherId: string, fileTtlSeconds: number): Promise<void>;
}

export function createPublisherRecords(deps: PublisherRecordsDeps): PublisherRecords {
  const { keys } = deps;
  if (!('dandelionSubscribe' in deps.redis)) {
    deps.redis.defineCommand('dandelionSubscribe', { numberOfKeys: 3, lua: SUBSCRIBE_SCRIPT });
    deps.redis.defineCommand('dandelionTouchPublisher', { numberOfKeys: 3, lua: TOUCH_SCRIPT });
  }
  const redis = deps.redis;
  if (!hasRecordScripts(redis)) throw new Error('ioredis did not define the publisher record commands');
  const nowSeconds = (): number => Math.floor((deps.now ?? Date.now)() / 1000);
  /** Publisher → the deadline last written by fileStored; forgotten on its PUBLISH (which rewrites the record). */
  const extendedTo = new Map<string, number>();
  return {
    async adoptUnindexed() {
      const deadline = nowSeconds() + Math.ceil(deps.ttlSeconds);
      let adopted = 0;
      const families: Array<[pattern: string, prefix: string]> = [[keys.subscribePattern, keys.subscribe('')], [keys.exchangePattern, keys.exchange('')]];
      for (const [pattern, prefix] of families) {
        for await (const found of scanKeys(redis, pattern, SCAN_COUNT)) {
          const ttls = (await found.reduce((p, key) => p.ttl(key), redis.pipeline()).exec()) ?? [];
          const tx = redis.multi();
          found.forEach((key, i) => {
            if (ttls[i]?.[1] !== -1) return; // has a TTL already, or is gone
            tx.zadd(keys.publisherRecords, 'NX', deadline, key.slice(prefix.length)).expireat(key, deadline);
            adopted++;
          });
          await tx.exec();
        }
      }
      if (adopted > 0) {
        const now = nowSeconds();
        await redis.dandelionSubscribe(keys.publisherRecords, keys.subscribe(''), keys.exchange(''), ['', now, now, deps.maxRecords, keys.subscribe(''), keys.exchange('')]);
      }
      return adopted;
    },
    async subscribe(msg) {
      const now = nowSeconds();
      const args: Array<string | number> = [msg.ID, now, now + Math.ceil(deps.ttlSeconds), deps.maxRecords, keys.subscribe(''), keys.exchange('')];
      for (const [field, value] of Object.entries(toHash(msg))) args.push(field, value);
      extendedTo.delete(msg.ID);
      return redis.dandelionSubscribe(keys.publisherRecords, keys.subscribe(msg.ID), keys.exchange(msg.ID), args);
    },
    async fileStored(publisherId, fileTtlSeconds) {
      const deadline = nowSeconds() + Math.ceil(Math.max(deps.ttlSeconds, fileTtlSeconds));
      if ((extendedTo.get(publisherId) ?? 0) >= deadline) return;
      await redis.dandelionTouchPublisher(keys.publisherRecords, keys.subscribe(publisherId), keys.exchange(publisherId), publisherId, deadline);
      // Re-inserted at the end, so the first entry is the one extended longest ago: dropped beyond the cap.
      extendedTo.delete(publisherId);
      extendedTo.set(publisherId, deadline);
      if (extendedTo.size > deps.maxRecords) extendedTo.delete(extendedTo.keys().next().value ?? '');
    },
  };
}
