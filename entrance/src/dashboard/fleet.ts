/**
 * The fleet as the dashboard sees it, read from the summaries and history points the heartbeat writes
 * (registry/box-summaries.ts). Lists are sorted, filtered and paged here, from a copy of the summaries
 * refreshed at most once a second, so a page of a 10,000-box fleet costs one HGETALL and a sort, not
 * 10,000 reads.
 */
import type { Redis } from 'ioredis';
import { parseLoc } from '../../../shared/src/protocol/index.js';
import type { EntranceKeys } from '../../../shared/src/redis-keys.js';
import { trafficKeys } from '../../../shared/src/redis-keys.js';
import { bucketStart } from '../traffic/fold.js';
import { decodeBoxSummary, decodeHistoryPoint } from '../registry/box-summary.js';
import type { BoxSummary, HistoryPoint } from '../registry/box-summary.js';
import type { Quarantine, QuarantineRecord } from '../trust/quarantine.js';
import type { VerdictStore } from '../reachability/store.js';
import type { ReachabilityMethod, ReachabilityState } from '../reachability/verdict.js';
import { boxExpiries } from '../registry/registry.js';
import { keyLayoutOfClient } from '../../../shared/src/redis.js';
import type { TrafficKeys } from '../../../shared/src/redis-keys.js';

export type { BoxSummary, HistoryPoint } from '../registry/box-summary.js';
export type BoxState = 'online' | 'stale' | 'offline';

export interface BoxRow extends BoxSummary {
  STATE: BoxState;
  AGE: number;
  BYTES_HOUR: number;
  BYTES_DAY: number;
  BYTES_TOTAL: number;
  /** Bytes the box reported beyond what its measured upload could carry, all time (not in BYTES_*). */
  IMPLAUSIBLE_BYTES: number;
  /** Set while a publisher's audit has the box out of SEARCH: why, which file, who, until when. */
  QUARANTINE: QuarantineRecord | null;
  /** The fleet-wide reachability verdict (null: none stored, e.g. the box is offline), how, and the household's advice. */
  REACHABILITY: ReachabilityState | null;
  REACHABILITY_METHOD: ReachabilityMethod | null;
  REACHABILITY_ADVICE: string | null;
}

/** A box list filter: by state, the boxes quarantined now, or those their household paused. */
export type BoxFilter = BoxState | 'quarantined' | 'paused';

const SORT_KEYS = [
  'ID', 'STATE', 'LAST_SEEN', 'AGE', 'PUBLIC_IP', 'CITY', 'COUNTRY', 'LOC', 'VERSION', 'UPTIME', 'CPU', 'MEM_USED_PCT', 'DISK_AVAIL',
  'TEMPERATURE', 'BANDWIDTH_UP', 'BANDWIDTH_IDLE_UP', 'FILES_HELD', 'BYTES_HOUR', 'BYTES_DAY', 'BYTES_TOTAL',
  'IMPLAUSIBLE_BYTES', 'REACHABILITY', 'PAUSED', 'PAUSED_UNTIL', 'UPLOAD_CAP_MBIT', 'QUOTA_GB', 'QUOTA_USED_GB', 'VIEWER_RATE_MBIT',
] as const satisfies ReadonlyArray<keyof BoxRow>;
export const SORTABLE: ReadonlySet<string> = new Set(SORT_KEYS);
const BYTES_FIELDS = new Set(['BYTES_HOUR', 'BYTES_DAY']);
const CACHE_MS = 1_000;
export const MAX_PER_PAGE = 500;

export interface ListQuery {
  sort: string;
  order: 'asc' | 'desc';
  q: string;
  state: BoxFilter | undefined;
  page: number;
  perPage: number;
}

export interface FleetDeps {
  redis: Redis;
  keys: EntranceKeys;
  staleSeconds: number;
  quarantine: Quarantine;
  verdicts: Pick<VerdictStore, 'read'>;
  now?: () => number;
}

export class Fleet {
  private cache: { at: number; rows: BoxSummary[] } | undefined;
  private readonly traffic: TrafficKeys;

  constructor(private readonly deps: FleetDeps) {
    this.traffic = trafficKeys(keyLayoutOfClient(deps.redis));
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  private async summaries(): Promise<BoxSummary[]> {
    if (this.cache && this.now() - this.cache.at < CACHE_MS) return this.cache.rows;
    const all = await this.deps.redis.hgetall(this.deps.keys.boxSummary);
    const rows: BoxSummary[] = [];
    for (const text of Object.values(all)) {
      const summary = decodeBoxSummary(text);
      if (summary !== undefined) rows.push(summary);
    }
    this.cache = { at: this.now(), rows };
    return rows;
  }

  /** online: heard within BOX_STALE_TIME; stale: later, but still registered; offline: dropped from BOX_SET. */
  async states(): Promise<Map<string, BoxState>> {
    const rows = await this.summaries();
    const nowS = this.now() / 1000;
    const expiries = rows.length > 0 ? await boxExpiries(this.deps.redis, this.deps.keys, rows.map((r) => r.ID)) : [];
    const out = new Map<string, BoxState>();
    rows.forEach((r, i) => {
      const registered = Number(expiries[i] ?? 0) > nowS;
      out.set(r.ID, !registered ? 'offline' : nowS - r.LAST_SEEN > this.deps.staleSeconds ? 'stale' : 'online');
    });
    return out;
  }

  /** What the live events watch for each box: its state and whether (and why) its household paused it. */
  async liveMarks(): Promise<Map<string, string>> {
    const [rows, states] = await Promise.all([this.summaries(), this.states()]);
    return new Map(rows.map((r) => [r.ID, `${states.get(r.ID) ?? 'offline'}/${r.PAUSED ?? 'serving'}`]));
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
    const { redis } = this.deps;
    const [rows, states, totals, implausible, quarantined] = await Promise.all([
      this.summaries(), this.states(), redis.hgetall(this.traffic.fleetBoxes), redis.hgetall(this.traffic.fleetImplausible), this.deps.quarantine.current(),
    ]);
    const nowS = this.now() / 1000;
    return rows.map((r) => ({
      ...r,
      STATE: states.get(r.ID) ?? 'offline',
      AGE: Math.max(0, Math.round(nowS - r.LAST_SEEN)),
      BYTES_HOUR: 0,
      BYTES_DAY: 0,
      BYTES_TOTAL: Number(totals[r.ID] ?? 0),
      IMPLAUSIBLE_BYTES: Number(implausible[r.ID] ?? 0),
      QUARANTINE: quarantined.get(r.ID) ?? null,
      REACHABILITY: null,
      REACHABILITY_METHOD: null,
      REACHABILITY_ADVICE: null,
    }));
  }

  private async fillBytes(rows: BoxRow[]): Promise<void> {
    const ids = rows.map((r) => r.ID);
    const [hour, day] = await Promise.all([this.bytesOf(ids, 'BYTES_HOUR'), this.bytesOf(ids, 'BYTES_DAY')]);
    for (const r of rows) {
      r.BYTES_HOUR = hour.get(r.ID) ?? 0;
      r.BYTES_DAY = day.get(r.ID) ?? 0;
    }
  }

  /** Verdicts cost a read per box, like hour and day bytes: only for the rows shown. */
  private async fillReachability(rows: BoxRow[]): Promise<void> {
    const verdicts = await this.deps.verdicts.read(rows.map((r) => r.ID));
    rows.forEach((r, i) => {
      const v = verdicts[i];
      r.REACHABILITY = v?.REACHABILITY ?? null;
      r.REACHABILITY_METHOD = v?.REACHABILITY_METHOD ?? null;
      r.REACHABILITY_ADVICE = v?.REACHABILITY_ADVICE ?? null;
    });
  }

  async list(q: ListQuery): Promise<{ TOTAL: number; PAGE: number; PER_PAGE: number; BOXES: BoxRow[] }> {
    let rows = await this.rows();
    const needle = q.q.trim().toLowerCase();
    if (needle) rows = rows.filter((r) => [r.ID, r.PUBLIC_IP, r.CITY, r.COUNTRY].some((v) => v?.toLowerCase().includes(needle)));
    if (q.state === 'quarantined') rows = rows.filter((r) => r.QUARANTINE !== null);
    else if (q.state === 'paused') rows = rows.filter((r) => r.PAUSED !== null);
    else if (q.state) rows = rows.filter((r) => r.STATE === q.state);
    // Hour and day bytes cost a read per box: only for all boxes when sorting by them, else for the page.
    if (BYTES_FIELDS.has(q.sort)) await this.fillBytes(rows);
    if (q.sort === 'REACHABILITY') await this.fillReachability(rows);
    const key = SORT_KEYS.find((k) => k === q.sort) ?? 'ID';
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
    await Promise.all([BYTES_FIELDS.has(q.sort) ? undefined : this.fillBytes(page), q.sort === 'REACHABILITY' ? undefined : this.fillReachability(page)]);
    return { TOTAL: rows.length, PAGE: q.page, PER_PAGE: q.perPage, BOXES: page };
  }

  async row(id: string): Promise<BoxRow | undefined> {
    const row = (await this.rows()).find((r) => r.ID === id);
    if (row) await Promise.all([this.fillBytes([row]), this.fillReachability([row])]);
    return row;
  }

  async history(id: string, from: number, to: number): Promise<HistoryPoint[]> {
    const texts = await this.deps.redis.zrangebyscore(this.deps.keys.boxHistory(id), from, to);
    return texts.flatMap((t) => decodeHistoryPoint(t) ?? []);
  }

  async map(): Promise<Array<{ ID: string; STATE: BoxState; LAT: number; LON: number; CITY: string | null }>> {
    const rows = await this.rows();
    return rows.flatMap((r) => {
      const loc = parseLoc(r.LOC ?? undefined);
      return loc ? [{ ID: r.ID, STATE: r.STATE, LAT: loc.lat, LON: loc.lon, CITY: r.CITY }] : [];
    });
  }
}
