/**
 * The box's traffic tail: follows nginx's access log (one JSON line per viewer request, LOG_FORMAT) and
 * turns it into the TRAFFIC_FLOW records and per-file aggregates the heartbeat sends to the entrance.
 *
 * Exactly once: the read position {path, inode, offset} is written in the same MULTI as the records and
 * aggregates of the lines before it, so a crash or restart neither re-reads nor loses a line.
 *
 * IMPORTANT, for whoever rotates the log: rotate by rename (logrotate without copytruncate, then USR1 so
 * nginx reopens) and keep `delaycompress`. The tail keeps reading the renamed file until nginx writes to
 * the new one, and after an agent restart finds it again as `<log>.1` by inode. copytruncate loses the
 * lines written between the copy and the truncation; the tail only sees a truncation and starts again
 * at offset 0. The agent itself never deletes or truncates the log.
 */
import { open, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { watch } from 'chokidar';
import type { FSWatcher } from 'chokidar';
import type { Redis } from 'ioredis';
import { ProtocolError, errnoOf, isProtocolError } from '../../../shared/src/protocol/errors.js';
import { parseJsonSafe } from '../../../shared/src/protocol/json.js';
import { MAX_AGGREGATES_PER_EXCHANGE, decodeTrafficAggregate, decodeTrafficRecord, trafficKeyOwner } from '../../../shared/src/protocol/messages.js';
import type { TrafficAggregate, TrafficRecord } from '../../../shared/src/protocol/messages.js';
import type { BoxKeys } from '../../../shared/src/redis-keys.js';
import type { Logger } from '../../../shared/src/log.js';
import { TrafficBatch } from './batch.js';
import { moveAside } from './rejected.js';
import type { RejectedTraffic } from './rejected.js';

/**
 * Largest single read, and the unit of one commit; the buffer is allocated once per tail. 256 KiB rather
 * than 1 MiB: the same speed, and the strings and records of a chunk in flight peak the agent's RSS at
 * about 120 MiB instead of 190 MiB while it works through a backlog (bench agent-memory).
 */
const CHUNK_BYTES = 256 << 10;
/** Most bytes one pass consumes; the next pass goes on from there, so a backlog never sits in memory. */
const PASS_BYTES = 8 << 20;
/** A burst of writes from nginx becomes one pass, not one pass per request. */
const EVENT_DELAY_MS = 250;
/** Keys asked for per SCAN/HSCAN round trip. */
const SCAN_COUNT = 1000;
const NEWLINE = 0x0a;

/**
 * One pass's commit as one script call: every TRAFFIC_FLOW hash with its expiry, the pending aggregates
 * and the new position, applied atomically (as a MULTI would) but sent as one command. A MULTI of two
 * commands per line cost the agent a command object and a promise per command, which capped the tail at
 * about 28k lines/s; the script is about ten times faster on the same machine (bench/README.md).
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

interface CommitCapable {
  dandelionTrafficCommit(offsetKey: string, pendingKey: string, args: Array<string | number>): Promise<number>;
}

export interface TrafficTailDeps {
  redis: Redis;
  keys: BoxKeys;
  boxId: string;
  /** The access log nginx writes. */
  logPath: string;
  /** Per-line TRAFFIC_FLOW hashes expire after this (the caller passes 2 × heartbeat period). */
  recordTtlSeconds: number;
  /** The caller binds the module name (`log.child({ mod: 'traffic' })`). */
  log: Logger;
  /** Fallback poll period in ms (default 1000); file events trigger passes sooner. */
  pollMs?: number;
}

export interface TrafficTail {
  /** Resume from the persisted position, read what is new, then watch the log and poll as a fallback. */
  start(): Promise<void>;
  /** Stop watching and timers, wait for an in-flight pass, close the log. */
  stop(): Promise<void>;
  /** One read pass now; resolves with the number of complete lines consumed. */
  pass(): Promise<number>;
  /**
   * For the next EXCHANGE: up to maxRecords per-line records as { '<boxId>:TRAFFIC_FLOW:log-<rid>': record }
   * (in no particular order), plus up to MAX_AGGREGATES_PER_EXCHANGE pending aggregates, oldest first.
   */
  collect(maxRecords: number): Promise<{ records: Record<string, TrafficRecord>; aggregates: TrafficAggregate[] }>;
  /** An entrance accepted an EXCHANGE carrying these aggregates: drop them from pending. */
  acknowledge(aggregateIds: string[]): Promise<void>;
  /** $bytes_sent (all statuses) consumed so far by this process; the heartbeat uses its deltas. */
  bytesServedTotal(): number;
  /** Bytes in the log not yet consumed (for metrics). */
  lagBytes(): Promise<number>;
}

/** Where reading stands; `inode` is a decimal string because inode numbers can exceed 2^53. */
interface Position {
  path: string;
  inode: string;
  offset: number;
}
interface OpenLog extends Position {
  handle: FileHandle;
}

export function createTrafficTail(deps: TrafficTailDeps): TrafficTail {
  const { keys, log } = deps;
  if (!('dandelionTrafficCommit' in deps.redis)) deps.redis.defineCommand('dandelionTrafficCommit', { numberOfKeys: 2, lua: COMMIT_SCRIPT });
  const redis = deps.redis as Redis & CommitCapable;
  const logPath = path.resolve(deps.logPath);
  const rotatedPath = `${logPath}.1`;
  const pollMs = deps.pollMs ?? 1000;
  const eventDelayMs = Math.min(EVENT_DELAY_MS, pollMs);
  const buffer = Buffer.allocUnsafe(CHUNK_BYTES);

  let reading: OpenLog | undefined;
  /** False until the position is loaded from Redis, and again after a failed pass, so the next one reloads it. */
  let resumed = false;
  let bytesSent = 0;
  /** Passes (and anything touching the file handle) run one after another through this chain. */
  let queue: Promise<unknown> = Promise.resolve();
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  let dueAt = 0;
  let ticking = false;
  let eventDuringTick = false;
  let stopped = false;

  function serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = queue.then(fn);
    queue = run.catch(() => undefined); // intentional: the caller gets the error; later calls still run
    return run;
  }

  async function ensureResumed(): Promise<void> {
    if (resumed) return;
    reading = await resume();
    resumed = true;
  }

  /** The saved position's file: still at the log path, or renamed to `.1` while the agent was stopped. */
  async function resume(): Promise<OpenLog | undefined> {
    const saved = await redis.hgetall(keys.trafficOffset);
    if (saved.inode === undefined) return undefined; // first start: the live log from its beginning
    const offset = Number(saved.offset);
    for (const candidate of new Set([saved.path ?? logPath, logPath, rotatedPath])) {
      const found = await openLog(candidate, saved.inode);
      if (!found) continue;
      found.offset = Number.isSafeInteger(offset) && offset >= 0 ? offset : 0;
      return found;
    }
    log.warn({ saved }, 'access log of the saved position is gone (rotated twice while stopped?); its unread lines are lost');
    return undefined;
  }

  async function readPass(): Promise<number> {
    await ensureResumed();
    let lines = 0;
    let budget = PASS_BYTES;
    while (budget > 0) {
      reading ??= await openLog(logPath);
      if (!reading) break; // nginx has not written a log yet
      // Look at the log path before draining the file we hold: if nginx had already written to a new
      // file then, it had reopened, so what we drain below is all the old file will ever get.
      const live = await statOrUndefined(logPath);
      const rotated = live !== undefined && String(live.ino) !== reading.inode;
      if (!rotated) await restartIfTruncated(reading);
      const result = await consume(reading, budget);
      lines += result.lines;
      budget -= result.bytes;
      if (!rotated || !result.drained || live.size === 0n) break;
      await leaveRotated(reading);
      reading = undefined;
    }
    return lines;
  }

  /** Copytruncate or a manual `> access.log`: what we read is gone, so start again at 0. */
  async function restartIfTruncated(file: OpenLog): Promise<void> {
    if (file.offset === 0) return;
    const { size } = await file.handle.stat();
    // A file truncated and then refilled past our offset is caught by the byte before it, which is
    // always the "\n" of the last line consumed.
    const before = size >= file.offset ? await file.handle.read(Buffer.alloc(1), 0, 1, file.offset - 1) : undefined;
    if (before?.buffer[0] === NEWLINE) return;
    log.warn({ path: file.path, offset: file.offset, size }, 'access log truncated in place; reading it again from the start');
    file.offset = 0;
  }

  async function leaveRotated(file: OpenLog): Promise<void> {
    const { size } = await file.handle.stat();
    if (size > file.offset) log.warn({ path: file.path, bytes: size - file.offset }, 'rotated access log ends in a partial line; dropped');
    await file.handle.close();
  }

  /**
   * Reads complete lines from `file.offset` and commits them chunk by chunk, each with its new position.
   * While one chunk's commit runs in Redis the next chunk is read and parsed; a chunk is only sent once
   * the one before it is stored, so a failed commit never leaves a later position in Redis.
   */
  async function consume(file: OpenLog, budget: number): Promise<{ lines: number; bytes: number; drained: boolean }> {
    const start = file.offset;
    let offset = start;
    let lines = 0;
    let drained = false;
    let inFlight: Promise<void> | undefined;
    const send = (from: number, to: number, batch: TrafficBatch): Promise<void> =>
      commit(file, from, to, batch).then(() => {
        file.offset = to;
        bytesSent += batch.bytesSent;
        lines += batch.lines;
        if (batch.skipped > 0) log.warn({ path: file.path, skipped: batch.skipped, sample: batch.skippedSample }, 'access log lines not in the dandelion format skipped');
      });
    try {
      while (offset - start < budget) {
        const { bytesRead } = await file.handle.read(buffer, 0, CHUNK_BYTES, offset);
        if (bytesRead === 0) {
          drained = true;
          break;
        }
        const batch = new TrafficBatch();
        const from = offset;
        const lastNewline = buffer.lastIndexOf(NEWLINE, bytesRead - 1);
        if (lastNewline < 0) {
          if (bytesRead < CHUNK_BYTES) {
            drained = true; // a partial last line: nginx is still writing it, or it will never end
            break;
          }
          // No line is this long; consume the chunk so memory stays bounded. The rest of it, up to its
          // newline, then fails to parse and is skipped as well.
          batch.skip(buffer.toString('utf8', 0, 200));
          offset += bytesRead;
        } else {
          batch.addLines(buffer.toString('utf8', 0, lastNewline));
          offset += lastNewline + 1;
        }
        await inFlight;
        inFlight = send(from, offset, batch);
        inFlight.catch(() => undefined); // intentional: awaited below or before the next send
      }
    } finally {
      await inFlight;
    }
    return { lines, bytes: file.offset - start, drained };
  }

  async function commit(file: OpenLog, start: number, end: number, batch: TrafficBatch): Promise<void> {
    const args: Array<string | number> = [deps.recordTtlSeconds, keys.trafficFlow(''), batch.records.length];
    for (const { rid, record } of batch.records) args.push(rid, record.datetime ?? '', record.url, record.status, record.size);
    const aggregates = batch.aggregates(`${file.inode}:${start}-${end}`);
    args.push(aggregates.length);
    for (const a of aggregates) args.push(a.ID, JSON.stringify(a));
    args.push(file.path, file.inode, end);
    await redis.dandelionTrafficCommit(keys.trafficOffset, keys.trafficPending, args); // ioredis flattens the array
  }

  /** After a failed pass, Redis may or may not hold its commit: reload the position from there. */
  async function forgetPosition(): Promise<void> {
    resumed = false;
    const file = reading;
    reading = undefined;
    await file?.handle.close();
  }

  function pass(): Promise<number> {
    return serialized(async () => {
      try {
        return await readPass();
      } catch (err) {
        await forgetPosition();
        throw err;
      }
    });
  }

  function schedule(ms: number): void {
    clearTimeout(timer);
    timer = undefined;
    if (stopped) return;
    dueAt = Date.now() + ms;
    timer = setTimeout(() => void tick(), ms);
  }

  async function tick(): Promise<void> {
    timer = undefined;
    ticking = true;
    eventDuringTick = false;
    try {
      await pass();
    } catch (err) {
      log.warn({ err }, 'traffic pass failed; position kept in redis, will retry');
    } finally {
      ticking = false;
      schedule(eventDuringTick ? eventDelayMs : pollMs);
    }
  }

  function onLogEvent(): void {
    if (ticking) eventDuringTick = true;
    else if (timer !== undefined && dueAt - Date.now() > eventDelayMs) schedule(eventDelayMs);
  }

  async function start(): Promise<void> {
    stopped = false;
    // Watch before the first pass, so a line written during it is not left for the fallback poll.
    // Watch the folder, not the file: the log may not exist yet, and rotation replaces it.
    const dir = path.dirname(logPath);
    const w = watch(dir, { depth: 0, ignoreInitial: true, ignored: (p: string) => p !== dir && p !== logPath });
    watcher = w;
    w.on('all', onLogEvent);
    w.on('error', (err: unknown) => log.warn({ err }, 'watching the access log failed; polling only'));
    ticking = true; // events during the first pass ask for another one, as during a tick
    eventDuringTick = false;
    try {
      await new Promise<void>((resolve) => w.once('ready', resolve));
      await pass();
    } catch (err) {
      watcher = undefined;
      await w.close();
      throw err;
    } finally {
      ticking = false;
    }
    schedule(eventDuringTick ? eventDelayMs : pollMs);
  }

  async function stop(): Promise<void> {
    stopped = true;
    clearTimeout(timer);
    timer = undefined;
    const w = watcher;
    watcher = undefined;
    await w?.close();
    await serialized(forgetPosition);
  }

  /**
   * What goes back on the wire is decoded first, with the protocol's decoder: an entry the entrance would
   * refuse (and with it the whole EXCHANGE, on every heartbeat) is moved aside to TRAFFIC_PENDING:REJECTED.
   */
  async function collect(maxRecords: number): Promise<{ records: Record<string, TrafficRecord>; aggregates: TrafficAggregate[] }> {
    const records: Record<string, TrafficRecord> = {};
    const rejected: RejectedTraffic[] = [];
    const recordKeys = await scanRecordKeys(maxRecords);
    if (recordKeys.length > 0) {
      const pipe = redis.pipeline();
      for (const key of recordKeys) pipe.hgetall(key);
      const rows = (await pipe.exec()) ?? [];
      rows.forEach(([err, hash], i) => {
        if (err) throw err;
        const key = recordKeys[i] as string;
        const stored = (hash ?? {}) as Record<string, string>;
        if (Object.keys(stored).length === 0) return; // expired since the SCAN
        const decoded = decodeStored(() => decodeStoredRecord(key, stored), { KEY: key, ENTRY: JSON.stringify(stored) }, rejected);
        if (decoded) records[key] = decoded;
      });
    }
    const aggregates = await oldestPending(MAX_AGGREGATES_PER_EXCHANGE, rejected);
    if (rejected.length > 0) {
      const sample = rejected.slice(0, 5).map(({ KEY, FIELD, ERROR }) => ({ key: KEY, field: FIELD, error: ERROR }));
      log.warn({ count: rejected.length, sample }, 'stored traffic the protocol refuses moved aside to TRAFFIC_PENDING:REJECTED');
      await moveAside(redis, keys, rejected);
    }
    return { records, aggregates };
  }

  /** A TRAFFIC_FLOW hash as the wire carries it: under a key the decoder takes as this box's, with a valid record. */
  function decodeStoredRecord(key: string, stored: Record<string, string>): TrafficRecord {
    if (trafficKeyOwner(key) !== deps.boxId) {
      throw new ProtocolError('E_FORMAT', `${key} is not a record key of this box on the wire (log id of 1-64 letters, digits, _ or -)`);
    }
    const raw: Record<string, unknown> = { url: stored.url, status: stored.status, size: stored.size };
    if (stored.datetime !== undefined) raw.datetime = stored.datetime;
    return decodeTrafficRecord(raw, key);
  }

  async function scanRecordKeys(max: number): Promise<string[]> {
    const found = new Set<string>();
    let cursor = '0';
    while (found.size < max) {
      const [next, batch] = await redis.scan(cursor, 'MATCH', keys.trafficFlowPattern, 'COUNT', SCAN_COUNT);
      for (const key of batch) if (found.size < max) found.add(key); // SCAN may repeat a key
      cursor = next;
      if (cursor === '0') break;
    }
    return [...found];
  }

  /**
   * HSCAN keeping only the `limit` oldest, so a long entrance outage never loads the whole backlog at once.
   * Entries the decoder refuses are added to `rejected`.
   */
  async function oldestPending(limit: number, rejected: RejectedTraffic[]): Promise<TrafficAggregate[]> {
    let kept: TrafficAggregate[] = [];
    const seen = new Set<string>();
    let cursor = '0';
    do {
      const [next, flat] = await redis.hscan(keys.trafficPending, cursor, 'COUNT', SCAN_COUNT);
      cursor = next;
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const field = flat[i] as string;
        const text = flat[i + 1] as string;
        if (seen.has(field)) continue; // HSCAN may return a field twice
        seen.add(field);
        const aggregate = decodeStored(() => decodeStoredAggregate(field, text), { KEY: keys.trafficPending, FIELD: field, ENTRY: text }, rejected);
        if (aggregate) kept.push(aggregate);
      }
      if (kept.length > 2 * limit) kept = oldestFirst(kept).slice(0, limit);
    } while (cursor !== '0');
    return oldestFirst(kept).slice(0, limit);
  }

  async function acknowledge(aggregateIds: string[]): Promise<void> {
    if (aggregateIds.length > 0) await redis.hdel(keys.trafficPending, ...aggregateIds);
  }

  async function lagBytes(): Promise<number> {
    return serialized(async () => {
      await ensureResumed();
      let lag = 0;
      if (reading) lag += Math.max(0, (await reading.handle.stat()).size - reading.offset);
      const live = await statOrUndefined(logPath);
      if (live && String(live.ino) !== reading?.inode) lag += Number(live.size); // not opened yet, or rotated in
      return lag;
    });
  }

  return { start, stop, pass, collect, acknowledge, bytesServedTotal: () => bytesSent, lagBytes };
}

/** Opens `file` for reading, or undefined when it is missing (or is not the file with `inode`). */
async function openLog(file: string, inode?: string): Promise<OpenLog | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw err;
  }
  // The inode of the open handle, not of the path: the path may be renamed between open and stat.
  const actual = String((await handle.stat({ bigint: true })).ino);
  if (inode !== undefined && actual !== inode) {
    await handle.close();
    return undefined;
  }
  return { path: file, inode: actual, offset: 0, handle };
}

async function statOrUndefined(file: string): Promise<{ ino: bigint; size: bigint } | undefined> {
  try {
    return await stat(file, { bigint: true });
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw err;
  }
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

function oldestFirst(list: TrafficAggregate[]): TrafficAggregate[] {
  return list.sort((a, b) => a.FROM - b.FROM || (a.ID < b.ID ? -1 : a.ID > b.ID ? 1 : 0));
}
