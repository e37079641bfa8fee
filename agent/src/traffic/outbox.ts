/**
 * The traffic waiting to go with the next EXCHANGEs: per-line TRAFFIC_FLOW records (they expire on their
 * own) and the per-file aggregates in TRAFFIC_PENDING (kept until an entrance acknowledges them).
 *
 * What goes back on the wire is decoded first, with the protocol's decoder: an entry the entrance would
 * refuse (and with it the whole EXCHANGE, on every heartbeat) is moved aside to TRAFFIC_PENDING:REJECTED.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../../../shared/src/log.js';
import { ProtocolError, isProtocolError } from '../../../shared/src/protocol/errors.js';
import { isRecord, parseJsonSafe } from '../../../shared/src/protocol/json.js';
import { MAX_AGGREGATES_PER_EXCHANGE, decodeTrafficAggregate, decodeTrafficRecord, trafficKeyOwner } from '../../../shared/src/protocol/messages.js';
import type { TrafficAggregate, TrafficRecord } from '../../../shared/src/protocol/messages.js';
import type { BoxKeys } from '../../../shared/src/redis-keys.js';
import { scanKeys } from '../../../shared/src/redis-scan.js';
import { OldestAggregates } from './oldest-aggregates.js';
import { moveAside } from './rejected.js';
import type { RejectedTraffic } from './rejected.js';

/** Keys asked for per SCAN/HSCAN round trip. */
const SCAN_COUNT = 1000;

export interface CollectedTraffic {
  /** { '<boxId>:TRAFFIC_FLOW:log-<rid>': record }, in no particular order. */
  records: Record<string, TrafficRecord>;
  /** Oldest first. */
  aggregates: TrafficAggregate[];
}

export interface OutboxDeps {
  redis: Redis;
  keys: BoxKeys;
  boxId: string;
  log: Logger;
}

export class TrafficOutbox {
  constructor(private readonly deps: OutboxDeps) {}

  /** Up to maxRecords records and MAX_AGGREGATES_PER_EXCHANGE pending aggregates for the next EXCHANGE. */
  async collect(maxRecords: number): Promise<CollectedTraffic> {
    const rejected: RejectedTraffic[] = [];
    const records = await this.records(await this.scanRecordKeys(maxRecords), rejected);
    const aggregates = await this.oldestPending(MAX_AGGREGATES_PER_EXCHANGE, rejected);
    if (rejected.length > 0) {
      const sample = rejected.slice(0, 5).map(({ KEY, FIELD, ERROR }) => ({ key: KEY, field: FIELD, error: ERROR }));
      this.deps.log.warn({ count: rejected.length, sample }, 'stored traffic the protocol refuses moved aside to TRAFFIC_PENDING:REJECTED');
      await moveAside(this.deps.redis, this.deps.keys, rejected);
    }
    return { records, aggregates };
  }

  /** An entrance accepted an EXCHANGE carrying these aggregates: drop them from pending. */
  async acknowledge(aggregateIds: string[]): Promise<void> {
    if (aggregateIds.length > 0) await this.deps.redis.hdel(this.deps.keys.trafficPending, ...aggregateIds);
  }

  private async records(recordKeys: string[], rejected: RejectedTraffic[]): Promise<Record<string, TrafficRecord>> {
    const records: Record<string, TrafficRecord> = {};
    if (recordKeys.length === 0) return records;
    const pipe = this.deps.redis.pipeline();
    for (const key of recordKeys) pipe.hgetall(key);
    const rows = (await pipe.exec()) ?? [];
    recordKeys.forEach((key, i) => {
      const [err, hash] = rows[i] ?? [null, undefined];
      if (err) throw err;
      const stored = stringFields(hash);
      if (Object.keys(stored).length === 0) return; // expired since the SCAN
      // Sent under the original's name whatever the key layout in Redis; moved aside (if refused) under its own.
      const onWire = this.deps.keys.trafficFlowOnWire(key);
      const decoded = decodeStored(() => this.decodeStoredRecord(onWire, stored), { KEY: key, ENTRY: JSON.stringify(stored) }, rejected);
      if (decoded) records[onWire] = decoded;
    });
    return records;
  }

  /** A TRAFFIC_FLOW hash as the wire carries it: under a key the decoder takes as this box's, with a valid record. */
  private decodeStoredRecord(key: string, stored: Record<string, string>): TrafficRecord {
    if (trafficKeyOwner(key) !== this.deps.boxId) {
      throw new ProtocolError('E_FORMAT', `${key} is not a record key of this box on the wire (log id of 1-64 letters, digits, _ or -)`);
    }
    const raw: Record<string, unknown> = { url: stored.url, status: stored.status, size: stored.size };
    if (stored.datetime !== undefined) raw.datetime = stored.datetime;
    return decodeTrafficRecord(raw, key);
  }

  private async scanRecordKeys(max: number): Promise<string[]> {
    const found = new Set<string>();
    if (max <= 0) return [];
    for await (const batch of scanKeys(this.deps.redis, this.deps.keys.trafficFlowPattern, SCAN_COUNT)) {
      for (const key of batch) if (found.size < max) found.add(key); // SCAN may repeat a key
      if (found.size >= max) break;
    }
    return [...found];
  }

  /**
   * HSCAN keeping only the `limit` oldest, so a long entrance outage never loads the whole backlog at once.
   * Entries the decoder refuses are added to `rejected`, once each.
   */
  private async oldestPending(limit: number, rejected: RejectedTraffic[]): Promise<TrafficAggregate[]> {
    const pendingKey = this.deps.keys.trafficPending;
    const kept = new OldestAggregates(limit);
    const refused = new Set<string>();
    let cursor = '0';
    do {
      const [next, flat] = await this.deps.redis.hscan(pendingKey, cursor, 'COUNT', SCAN_COUNT);
      cursor = next;
      for (const [field, text] of fieldPairs(flat)) {
        if (refused.has(field)) continue; // HSCAN may return a field twice
        const from = storedFrom(text);
        if (from !== undefined && !kept.couldKeep(from, field)) continue; // sent, and so decoded, on a later EXCHANGE
        const aggregate = decodeStored(() => decodeStoredAggregate(field, text), { KEY: pendingKey, FIELD: field, ENTRY: text }, rejected);
        if (aggregate) kept.offer(aggregate);
        else refused.add(field);
      }
    } while (cursor !== '0');
    return kept.oldest();
  }
}

/**
 * The FROM of a stored aggregate (JSON.stringify of it) without parsing the rest, or undefined when the text
 * does not show one plainly. Inside a JSON string a quote is escaped, so `"FROM":` can only be the key.
 */
function storedFrom(text: string): number | undefined {
  const m = STORED_FROM.exec(text);
  return m ? Number(m[1]) : undefined;
}
const STORED_FROM = /"FROM":(\d+(?:\.\d+)?)[,}]/;

/** HSCAN's flat [field, value, field, value, …] as pairs. */
function* fieldPairs(flat: string[]): Generator<[string, string]> {
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const field = flat[i];
    const value = flat[i + 1];
    if (field !== undefined && value !== undefined) yield [field, value];
  }
}

/** An HGETALL reply from a pipeline (typed unknown there) as the string fields it holds. */
function stringFields(hash: unknown): Record<string, string> {
  const fields: Record<string, string> = {};
  if (!isRecord(hash)) return fields;
  for (const [k, v] of Object.entries(hash)) if (typeof v === 'string') fields[k] = v;
  return fields;
}

/** `decode()`'s value, or undefined after adding `where` and the decoder's reason to `rejected`. */
function decodeStored<T>(decode: () => T, where: Omit<RejectedTraffic, 'ERROR'>, rejected: RejectedTraffic[]): T | undefined {
  try {
    return decode();
  } catch (err) {
    if (!isProtocolError(err)) throw err;
    rejected.push({ ...where, ERROR: err.message });
    return undefined;
  }
}

/** A TRAFFIC_PENDING entry: JSON the wire's aggregate decoder takes, stored under its own ID (acks delete by ID). */
function decodeStoredAggregate(field: string, text: string): TrafficAggregate {
  const where = `TRAFFIC_PENDING ${field}`;
  let value: unknown;
  try {
    value = parseJsonSafe(text);
  } catch {
    throw new ProtocolError('E_FORMAT', `${where} is not JSON`);
  }
  const aggregate = decodeTrafficAggregate(value, where);
  if (aggregate.ID !== field) throw new ProtocolError('E_FORMAT', `${where} holds the aggregate ${aggregate.ID}; an acknowledgement would never remove it`);
  return aggregate;
}
