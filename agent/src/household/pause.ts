/**
 * Whether the box serves viewers now, decided from the settings, the clock and the month's count: paused
 * for the quota until the month ends, or for quiet hours until they end. When both hold, the box resumes
 * only when both are over, so the later one is the reason shown.
 */
import type { PauseReason } from '../../../shared/src/protocol/messages.js';
import { parseQuietHours, quietUntil } from '../../../shared/src/quiet-hours.js';
import { nextMonthStart } from './monthly-usage.js';
import type { HouseholdSettings } from './settings.js';

/** The protocol's own list (PAUSED in an EXCHANGE), so the box can only pause for a reason the entrance reads. */
export type { PauseReason };

export interface PauseState {
  /** undefined: serving. */
  reason: PauseReason | undefined;
  /** When serving resumes (ms); undefined while serving. */
  until: number | undefined;
}

export const SERVING: PauseState = { reason: undefined, until: undefined };

/** Decimal gigabytes, as UPLOAD_QUOTA_GB counts them. */
export const BYTES_PER_GB = 1e9;

export function pauseState(settings: HouseholdSettings, nowMs: number, usedBytes: number): PauseState {
  const candidates: Array<{ reason: PauseReason; until: number }> = [];
  if (settings.UPLOAD_QUOTA_GB > 0 && usedBytes >= settings.UPLOAD_QUOTA_GB * BYTES_PER_GB) candidates.push({ reason: 'quota', until: nextMonthStart(nowMs) });
  const quietEnd = quietUntil(parseQuietHours(settings.QUIET_HOURS), nowMs);
  if (quietEnd !== undefined) candidates.push({ reason: 'quiet-hours', until: quietEnd });
  return candidates.reduce<PauseState>((later, c) => (later.until === undefined || c.until > later.until ? c : later), SERVING);
}

export function samePause(a: PauseState, b: PauseState): boolean {
  return a.reason === b.reason && a.until === b.until;
}

/** The one line a viewer refused during a pause reads, and the logs say. */
export function pauseSentence(p: PauseState): string {
  if (p.reason === undefined) return 'serving';
  const until = p.until === undefined ? '' : ` until ${localTimeText(p.until)}`;
  return p.reason === 'quota' ? `paused: the household's monthly upload quota is used up${until}` : `paused: the household's quiet hours${until}`;
}

/** `ms` as the box's local wall-clock time, 'YYYY-MM-DD HH:MM' (what the household's clock says). */
export function localTimeText(ms: number): string {
  const d = new Date(ms);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}`;
}
