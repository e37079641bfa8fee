/**
 * What the box served to viewers this calendar month (local time), for UPLOAD_QUOTA_GB: the bytes nginx
 * logged, fed in as the traffic tail consumes them, kept in RUN_DIRECTORY/upload-month.json so a restart
 * keeps counting. A new month starts again from 0.
 */
import type { Logger } from '../../../shared/src/log.js';
import { isRecord } from '../../../shared/src/protocol/json.js';
import { readStateFile, writeStateFile } from './state-file.js';

/** 'YYYY-MM' of `ms` in the box's local time. */
export function monthOf(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}`;
}

/** The first instant of the local month after the one holding `ms`. */
export function nextMonthStart(ms: number): number {
  const d = new Date(ms);
  return new Date(d.getFullYear(), d.getMonth() + 1, 1).getTime();
}

interface StoredMonth {
  MONTH: string;
  BYTES: number;
}

function decodeStoredMonth(raw: unknown): StoredMonth {
  if (!isRecord(raw) || typeof raw.MONTH !== 'string' || !/^\d{4}-\d{2}$/.test(raw.MONTH)) throw new Error('MONTH must be YYYY-MM');
  if (typeof raw.BYTES !== 'number' || !Number.isSafeInteger(raw.BYTES) || raw.BYTES < 0) throw new Error('BYTES must be a whole number ≥ 0');
  return { MONTH: raw.MONTH, BYTES: raw.BYTES };
}

export class MonthlyUsage {
  private month = '';
  private bytes = 0;
  private saved = true;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly o: { file: string; log: Logger }) {}

  async load(nowMs: number): Promise<void> {
    const stored = await readStateFile(this.o.file, decodeStoredMonth, { MONTH: monthOf(nowMs), BYTES: 0 }, this.o.log);
    this.month = stored.MONTH;
    this.bytes = stored.BYTES;
  }

  /** Bytes served in the month holding `nowMs` (0 once that month is not the one counted). */
  usedBytes(nowMs: number): number {
    this.roll(nowMs);
    return this.bytes;
  }

  add(bytes: number, nowMs: number): void {
    this.roll(nowMs);
    this.bytes += bytes;
    this.saved = false;
  }

  /** Writes the count when it changed since the last write; one write at a time. */
  save(): Promise<void> {
    if (this.saved) return this.writing;
    this.saved = true;
    const value: StoredMonth = { MONTH: this.month, BYTES: this.bytes };
    this.writing = this.writing.then(() => writeStateFile(this.o.file, value)).catch((err: unknown) => {
      this.saved = false; // tried again with the next save
      this.o.log.warn({ err }, 'month\'s upload count not saved');
    });
    return this.writing;
  }

  private roll(nowMs: number): void {
    const month = monthOf(nowMs);
    if (month === this.month) return;
    this.month = month;
    this.bytes = 0;
    this.saved = false;
  }
}
