/**
 * What the dashboard keeps of each accepted EXCHANGE: a small summary of the box (one JSON field of
 * {ID}:BOX_SUMMARY per box) and one history point per minute ({ID}:HISTORY:<box>). Built here from the
 * EXCHANGE, and decoded here when read back, so the writer and the reader agree on one shape.
 */
import { PAUSE_REASONS, isRecord, parseJsonSafe, readingOf } from '../../../shared/src/protocol/index.js';
import { isOneOf } from '../../../shared/src/protocol/fields.js';
import type { BoxExchange, PauseReason } from '../../../shared/src/protocol/index.js';

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
  /** Why the box's household paused it (null: it serves, or it is an original box that never says). */
  PAUSED: PauseReason | null;
  /** With PAUSED: when it serves again, seconds since the epoch. */
  PAUSED_UNTIL: number | null;
  /** The household's settings as the box reported them (0: none), and this month's use of the quota, GB. */
  UPLOAD_CAP_MBIT: number | null;
  QUOTA_GB: number | null;
  QUOTA_USED_GB: number | null;
  /** The rate the box lets viewers have now, Mbit/s. */
  VIEWER_RATE_MBIT: number | null;
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

/** Readings rounded to hundredths: the dashboard shows no more, and the summaries stay small. */
const rounded = (n: number | undefined): number | null => (n === undefined ? null : Math.round(n * 100) / 100);

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
    UPTIME: rounded(readingOf(msg, 'UPTIME')),
    CPU: idle === undefined ? null : rounded(100 - idle),
    MEM_USED_PCT: total && avail !== undefined ? rounded((100 * (total - avail)) / total) : null,
    DISK_AVAIL: rounded(readingOf(msg, 'DISK-AVAIL')),
    TEMPERATURE: rounded(readingOf(msg, 'TEMPERATURE')),
    BANDWIDTH_UP: rounded(readingOf(msg, 'BANDWIDTH-UP')),
    BANDWIDTH_IDLE_UP: rounded(readingOf(msg, 'BANDWIDTH-IDLE-UP')),
    FILES_HELD: rounded(readingOf(msg, 'FILES-HELD')),
    PAUSED: msg.PAUSED ? msg.PAUSED : null,
    PAUSED_UNTIL: msg.PAUSED && msg.PAUSED_UNTIL !== undefined ? msg.PAUSED_UNTIL : null,
    UPLOAD_CAP_MBIT: rounded(msg.UPLOAD_CAP_MBIT),
    QUOTA_GB: rounded(msg.QUOTA_GB),
    QUOTA_USED_GB: rounded(msg.QUOTA_USED_GB),
    VIEWER_RATE_MBIT: rounded(msg.VIEWER_RATE_MBIT),
  };
}

/** The history point of the minute starting at `minute` (seconds), from the box's summary and EXCHANGE. */
export function historyPointOf(minute: number, summary: BoxSummary, msg: BoxExchange): HistoryPoint {
  return {
    t: minute,
    CPU: summary.CPU,
    MEM_USED_PCT: summary.MEM_USED_PCT,
    DISK_AVAIL: summary.DISK_AVAIL,
    TEMPERATURE: summary.TEMPERATURE,
    BANDWIDTH_IDLE_UP: summary.BANDWIDTH_IDLE_UP,
    LOADAVG_1: rounded(readingOf(msg, 'LOADAVG-1')),
  };
}

/** A stored summary, or undefined when it is not one this version wrote (left out until the box's next EXCHANGE). */
export function decodeBoxSummary(text: string): BoxSummary | undefined {
  const raw = parsedRecord(text);
  if (raw === undefined || typeof raw.ID !== 'string' || !isFiniteNumber(raw.LAST_SEEN)) return undefined;
  return {
    ID: raw.ID,
    LAST_SEEN: raw.LAST_SEEN,
    PUBLIC_IP: textOrNull(raw.PUBLIC_IP),
    CITY: textOrNull(raw.CITY),
    COUNTRY: textOrNull(raw.COUNTRY),
    LOC: textOrNull(raw.LOC),
    VERSION: textOrNull(raw.VERSION),
    UPTIME: numberOrNull(raw.UPTIME),
    CPU: numberOrNull(raw.CPU),
    MEM_USED_PCT: numberOrNull(raw.MEM_USED_PCT),
    DISK_AVAIL: numberOrNull(raw.DISK_AVAIL),
    TEMPERATURE: numberOrNull(raw.TEMPERATURE),
    BANDWIDTH_UP: numberOrNull(raw.BANDWIDTH_UP),
    BANDWIDTH_IDLE_UP: numberOrNull(raw.BANDWIDTH_IDLE_UP),
    FILES_HELD: numberOrNull(raw.FILES_HELD),
    PAUSED: typeof raw.PAUSED === 'string' && isOneOf(PAUSE_REASONS, raw.PAUSED) ? raw.PAUSED : null,
    PAUSED_UNTIL: numberOrNull(raw.PAUSED_UNTIL),
    UPLOAD_CAP_MBIT: numberOrNull(raw.UPLOAD_CAP_MBIT),
    QUOTA_GB: numberOrNull(raw.QUOTA_GB),
    QUOTA_USED_GB: numberOrNull(raw.QUOTA_USED_GB),
    VIEWER_RATE_MBIT: numberOrNull(raw.VIEWER_RATE_MBIT),
  };
}

/** A stored history point, or undefined when it is not one. */
export function decodeHistoryPoint(text: string): HistoryPoint | undefined {
  const raw = parsedRecord(text);
  if (raw === undefined || !isFiniteNumber(raw.t)) return undefined;
  return {
    t: raw.t,
    CPU: numberOrNull(raw.CPU),
    MEM_USED_PCT: numberOrNull(raw.MEM_USED_PCT),
    DISK_AVAIL: numberOrNull(raw.DISK_AVAIL),
    TEMPERATURE: numberOrNull(raw.TEMPERATURE),
    BANDWIDTH_IDLE_UP: numberOrNull(raw.BANDWIDTH_IDLE_UP),
    LOADAVG_1: numberOrNull(raw.LOADAVG_1),
  };
}

function parsedRecord(text: string): Record<string, unknown> | undefined {
  try {
    const raw = parseJsonSafe(text);
    return isRecord(raw) ? raw : undefined;
  } catch {
    return undefined;
  }
}

const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const textOrNull = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const numberOrNull = (v: unknown): number | null => (isFiniteNumber(v) ? v : null);
