/**
 * The fleet as the dashboard sees it. Every accepted EXCHANGE writes a small summary of the box into
 * {ID}:BOX_SUMMARY (kept after the box goes offline, so the list can say "offline since") and the
 * current minute's history point into {ID}:HISTORY:<box>. Lists are sorted, filtered and paged here, from a
 * copy of the summaries refreshed at most once a second, so a page of a 10,000-box fleet costs one
 * HGETALL and a sort, not 10,000 reads.
 */
import type { Redis } from 'ioredis';
import { parseLoc, readingOf } from '../../../shared/src/protocol/index.js';
import type { BoxExchange } from '../../../shared/src/protocol/index.js';
import type { EntranceKeys } from '../../../shared/src/redis-keys.js';
import { trafficKeys } from '../../../shared/src/redis-keys.js';
import { bucketStart } from '../traffic/fold.js';

export type BoxState = 'online' | 'stale' | 'offline';

export interface BoxSummary {
  ID: string;
  LAST_SEEN: number;
  PUBLIC_IP: string | null;
  CITY: string | null;
  COUNTRY: string | null;
  LOC: string | null;
  VERSION: string | null;
  UPTIME: number | null;
  CPU: number | null;
  MEM_USED_PCT: number | null;
  DISK_AVAIL: number | null;
  TEMPERATURE: number | null;
  BANDWIDTH_UP: number | null;
  BANDWIDTH_IDLE_UP: number | null;
  FILES_HELD: number | null;
}

export interface BoxRow extends BoxSummary {
  STATE: BoxState;
  AGE: number;
  BYTES_HOUR: number;
  BYTES_DAY: number;
  BYTES_TOTAL: number;
}

export interface HistoryPoint {
  t: number;
  CPU: number | null;
  MEM_USED_PCT: number | null;
  DISK_AVAIL: number | null;
  TEMPERATURE: number | null;
  BANDWIDTH_IDLE_UP: number | null;
  LOADAVG_1: number | null;
}

export const SORTABLE: ReadonlySet<string> = new Set([
  'ID', 'STATE', 'LAST_SEEN', 'AGE', 'PUBLIC_IP', 'CITY', 'COUNTRY', 'LOC', 'VERSION', 'UPTIME', 'CPU', 'MEM_USED_PCT', 'DISK_AVAIL',
  'TEMPERATURE', 'BANDWIDTH_UP', 'BANDWIDTH_IDLE_UP', 'FILES_HELD', 'BYTES_HOUR', 'BYTES_DAY', 'BYTES_TOTAL',
]);
const BYTES_FIELDS = new Set(['BYTES_HOUR', 'BYTES_DAY']);
const CACHE_MS = 1_000;
export const MAX_PER_PAGE = 500;

const orNull = (n: number | undefined): number | null => (n === undefined ? null : Math.round(n * 100) / 100);

export function summaryOf(msg: BoxExchange, publicIp: string | undefined, nowMs: number): BoxSummary {
  const idle = readingOf(msg, 'CPU-IDLE');
  const total = readingOf(msg, 'MEM-TOTAL');
  const avail = readingOf(msg, 'MEM-AVAIL');
  return {
    ID: msg.ID,
    LAST_SEEN: nowMs / 1000,
    PUBLIC_IP: publicIp ?? msg.IP,
    CITY: msg.GEOIP?.CITY ?? null,
    COUNTRY: msg.GEOIP?.COUNTRY ?? null,
    LOC: msg.GEOIP?.LOC ?? null,
    VERSION: typeof msg.VERSION === 'string' ? msg.VERSION : null,
    UPTIME: orNull(readingOf(msg, 'UPTIME')),
    CPU: idle === undefined ? null : orNull(100 - idle),
    MEM_USED_PCT: total && avail !== undefined ? orNull((100 * (total - avail)) / total) : null,
    DISK_AVAIL: orNull(readingOf(msg, 'DISK-AVAIL')),
    TEMPERATURE: orNull(readingOf(msg, 'TEMPERATURE')),
    BANDWIDTH_UP: orNull(readingOf(msg, 'BANDWIDTH-UP')),
    BANDWIDTH_IDLE_UP: orNull(readingOf(msg, 'BANDWIDTH-IDLE-UP')),
    FILES_HELD: orNull(readingOf(msg, 'FILES-HELD')),
  };
}

export interface ListQuery {
  sort: string;
  order: 'asc' | 'desc';
  q: string;
  state: BoxState | undefined;
  page: number;
  perPage: number;
}

export interface FleetDeps {
  redis: Redis;
  keys: EntranceKeys;
  staleSeconds: number;
  historyDays: number;
  now?: () => number;
}

export class Fleet {
  private cache: { at: number; rows: BoxSummary[] } | undefined;
  private readonly lastHistoryMinute = new Map<string, number>();
  private readonly traffic = trafficKeys();

  constructor(private readonly deps: FleetDeps) {}

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  /** Record an accepted EXCHANGE: the summary every time, a history point once a minute. */
  async record(msg: BoxExchange, publicIp: string | undefined): Promise<void> {
    const now = this.now();
    const summary = summaryOf(msg, publicIp, now);
    const tx = this.deps.redis.multi().hset(this.deps.keys.boxSummary, msg.ID, JSON.stringify(summary));
    // The minute's point is the latest reading in it (the first EXCHANGE of a box has no CPU shares yet).
    const minute = Math.floor(now / 60_000) * 60;
    const point: HistoryPoint = {
      t: minute, CPU: summary.CPU, MEM_USED_PCT: summary.MEM_USED_PCT, DISK_AVAIL: summary.DISK_AVAIL, TEMPERATURE: summary.TEMPERATURE,
      BANDWIDTH_IDLE_UP: summary.BANDWIDTH_IDLE_UP, LOADAVG_1: orNull(readingOf(msg, 'LOADAVG-1')),
    };
    const key = this.deps.keys.boxHistory(msg.ID);
    tx.zremrangebyscore(key, minute, minute).zadd(key, minute, JSON.stringify(point));
    if (this.lastHistoryMinute.get(msg.ID) !== minute) {
      // Once a minute: drop points older than BOX_HISTORY_DAYS.
      this.lastHistoryMinute.set(msg.ID, minute);
      tx.zremrangebyscore(key, '-inf', minute - this.deps.historyDays * 86400).expire(key, Math.ceil(this.deps.historyDays * 86400));
    }
    await tx.exec();
  }

  /** Forget boxes offline for longer than BOX_HISTORY_DAYS. */
  async prune(): Promise<number> {
    const limit = this.now() / 1000 - this.deps.historyDays * 86400;
    const gone = (await this.summaries(true)).filter((s) => s.LAST_SEEN < limit).map((s) => s.ID);
    if (gone.length > 0) await this.deps.redis.hdel(this.deps.keys.boxSummary, ...gone);
    for (const id of gone) this.lastHistoryMinute.delete(id);
    return gone.length;
  }

  private async summaries(fresh = false): Promise<BoxSummary[]> {
    if (!fresh && this.cache && this.now() - this.cache.at < CACHE_MS) return this.cache.rows;
    const all = await this.deps.redis.hgetall(this.deps.keys.boxSummary);
    const rows: BoxSummary[] = [];
    for (const text of Object.values(all)) {
      try {
        rows.push(JSON.parse(text) as BoxSummary);
      } catch {
        /* intentional: a summary this version cannot read is left out until the box's next EXCHANGE */
      }
    }
    this.cache = { at: this.now(), rows };
    return rows;
  }

  /** online: heard within BOX_STALE_TIME; stale: later, but still registered; offline: dropped from BOX_SET. */
  async states(): Promise<Map<string, BoxState>> {
    const rows = await this.summaries();
    const nowS = this.now() / 1000;
    const expiries = rows.length > 0 ? await this.deps.redis.zmscore(this.deps.keys.boxSet, ...rows.map((r) => r.ID)) : [];
    const out = new Map<string, BoxState>();
    rows.forEach((r, i) => {
      const registered = Number(expiries[i] ?? 0) > nowS;
      out.set(r.ID, !registered ? 'offline' : nowS - r.LAST_SEEN > this.deps.staleSeconds ? 'stale' : 'online');
    });
    return out;
  }

  private async bytesOf(ids: string[], field: 'BYTES_HOUR' | 'BYTES_DAY'): Promise<Map<string, number>> {
    const nowS = Math.floor(this.now() / 1000);
    const resolution = field === 'BYTES_HOUR' ? 'hour' : 'day';
    const t = bucketStart(nowS, resolution);
    const pipe = this.deps.redis.pipeline();
    for (const id of ids) pipe.hget(this.traffic.boxBucket(id, resolution, t), 'bytes');
    const res = (await pipe.exec()) ?? [];
    return new Map(ids.map((id, i) => [id, Number(res[i]?.[1] ?? 0)]));
  }

  async rows(): Promise<BoxRow[]> {
    const [rows, states, totals] = await Promise.all([this.summaries(), this.states(), this.deps.redis.hgetall(this.traffic.fleetBoxes)]);
    const nowS = this.now() / 1000;
    return rows.map((r) => ({ ...r, STATE: states.get(r.ID) ?? 'offline', AGE: Math.max(0, Math.round(nowS - r.LAST_SEEN)), BYTES_HOUR: 0, BYTES_DAY: 0, BYTES_TOTAL: Number(totals[r.ID] ?? 0) }));
  }

  private async fillBytes(rows: BoxRow[]): Promise<void> {
    const ids = rows.map((r) => r.ID);
    const [hour, day] = await Promise.all([this.bytesOf(ids, 'BYTES_HOUR'), this.bytesOf(ids, 'BYTES_DAY')]);
    for (const r of rows) {
      r.BYTES_HOUR = hour.get(r.ID) ?? 0;
      r.BYTES_DAY = day.get(r.ID) ?? 0;
    }
  }

  async list(q: ListQuery): Promise<{ TOTAL: number; PAGE: number; PER_PAGE: number; BOXES: BoxRow[] }> {
    let rows = await this.rows();
    const needle = q.q.trim().toLowerCase();
    if (needle) rows = rows.filter((r) => [r.ID, r.PUBLIC_IP, r.CITY, r.COUNTRY].some((v) => v?.toLowerCase().includes(needle)));
    if (q.state) rows = rows.filter((r) => r.STATE === q.state);
    // Hour and day bytes cost a read per box: only for all boxes when sorting by them, else for the page.
    if (BYTES_FIELDS.has(q.sort)) await this.fillBytes(rows);
    const key = q.sort as keyof BoxRow;
    const dir = q.order === 'asc' ? 1 : -1;
    rows.sort((a, b) => {
      const x = a[key];
      const y = b[key];
      if (x === y) return a.ID < b.ID ? -1 : 1;
      if (x === null) return 1; // missing readings last, whatever the order
      if (y === null) return -1;
      return (x < y ? -1 : 1) * dir;
    });
    const start = (q.page - 1) * q.perPage;
    const page = rows.slice(start, start + q.perPage);
    if (!BYTES_FIELDS.has(q.sort)) await this.fillBytes(page);
    return { TOTAL: rows.length, PAGE: q.page, PER_PAGE: q.perPage, BOXES: page };
  }

  async row(id: string): Promise<BoxRow | undefined> {
    const row = (await this.rows()).find((r) => r.ID === id);
    if (row) await this.fillBytes([row]);
    return row;
  }

  async history(id: string, from: number, to: number): Promise<HistoryPoint[]> {
    const texts = await this.deps.redis.zrangebyscore(this.deps.keys.boxHistory(id), from, to);
    return texts.map((t) => JSON.parse(t) as HistoryPoint);
  }

  async map(): Promise<Array<{ ID: string; STATE: BoxState; LAT: number; LON: number; CITY: string | null }>> {
    const rows = await this.rows();
    return rows.flatMap((r) => {
      const loc = parseLoc(r.LOC ?? undefined);
      return loc ? [{ ID: r.ID, STATE: r.STATE, LAT: loc.lat, LON: loc.lon, CITY: r.CITY }] : [];
    });
  }
}
