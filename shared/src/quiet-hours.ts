/**
 * Quiet hours: local-time ranges 'HH:MM-HH:MM', comma-separated, when a box serves nobody. A range whose
 * end is before its start crosses midnight ('23:00-07:00'). Parsed here once, for the config check
 * (QUIET_HOURS) and for the box deciding whether it is quiet now and until when.
 */

/** One range in minutes after local midnight; `end` < `start` crosses midnight. */
export interface QuietRange {
  startMinute: number;
  endMinute: number;
}

const RANGE = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$/;

/** The ranges of `text` ('' is none); throws an Error saying what is wrong. */
export function parseQuietHours(text: string): QuietRange[] {
  if (text.trim() === '') return [];
  return text.split(',').map((part) => {
    const m = RANGE.exec(part.trim());
    if (!m) throw new Error(`"${part.trim()}" is not a range HH:MM-HH:MM (24-hour local time, e.g. 23:00-07:00)`);
    const [, sh, sm, eh, em] = m.map(Number);
    const range = { startMinute: sh! * 60 + sm!, endMinute: eh! * 60 + em! };
    if (range.startMinute === range.endMinute) throw new Error(`"${part.trim()}" starts and ends at the same time`);
    return range;
  });
}

/** undefined when `text` is valid QUIET_HOURS, else what is wrong (the config check and the LAN form). */
export function checkQuietHours(text: string): string | undefined {
  try {
    parseQuietHours(text);
    return undefined;
  } catch (err) {
    return err instanceof Error ? `must be comma-separated HH:MM-HH:MM ranges: ${err.message}` : String(err);
  }
}

/**
 * When the quiet hours holding `nowMs` end (ms), or undefined when it is not quiet now. Ranges that touch
 * or overlap are followed into one another ('22:00-23:00,23:00-07:00' is quiet until 07:00).
 */
export function quietUntil(ranges: readonly QuietRange[], nowMs: number): number | undefined {
  let until: number | undefined;
  let at = nowMs;
  // Each step can only move to the end of another range, so as many steps as ranges reach the last one.
  for (let step = 0; step <= ranges.length; step++) {
    const end = endOfRangeHolding(ranges, at);
    if (end === undefined || (until !== undefined && end <= until)) break;
    until = end;
    at = end;
  }
  return until;
}

/** The latest end among the ranges holding `atMs` (local time), or undefined when none does. */
function endOfRangeHolding(ranges: readonly QuietRange[], atMs: number): number | undefined {
  const d = new Date(atMs);
  const minute = d.getHours() * 60 + d.getMinutes() + d.getSeconds() / 60 + d.getMilliseconds() / 60_000;
  const localMidnightPlus = (days: number, minutes: number): number =>
    new Date(d.getFullYear(), d.getMonth(), d.getDate() + days, Math.floor(minutes / 60), minutes % 60).getTime();
  let latest: number | undefined;
  for (const { startMinute, endMinute } of ranges) {
    let end: number | undefined;
    if (startMinute < endMinute) {
      if (minute >= startMinute && minute < endMinute) end = localMidnightPlus(0, endMinute);
    } else if (minute >= startMinute) {
      end = localMidnightPlus(1, endMinute);
    } else if (minute < endMinute) {
      end = localMidnightPlus(0, endMinute);
    }
    if (end !== undefined && (latest === undefined || end > latest)) latest = end;
  }
  return latest;
}
