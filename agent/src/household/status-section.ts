/**
 * The household's part of the box's status page. The LAN copy shows the settings in force and where each
 * comes from, the month's count, whether the box serves or is paused (why, until when), and the form
 * that changes them (POST /status/household). The public copy says only "serving" or "paused": the
 * household's quota, hours and cap are nobody else's business.
 */
import { escapeHtml } from '../../../shared/src/html.js';
import type { HouseholdView } from './household.js';
import { localTimeText, pauseSentence } from './pause.js';
import { HOUSEHOLD_PATH, USE_CONFIG_FIELD } from './settings.js';
import type { SettingKey, SettingSource } from './settings.js';

/** The status.json field of the LAN copy. */
export interface HouseholdSnapshot {
  SERVING: string;
  PAUSED: string;
  PAUSED_UNTIL?: string;
  UPLOAD_QUOTA_GB: number;
  QUOTA_USED_GB: number;
  QUIET_HOURS: string;
  UPLOAD_CAP_MBIT: number;
  SOURCES: Record<SettingKey, SettingSource>;
}

export function householdSnapshot(v: HouseholdView): HouseholdSnapshot {
  const s: HouseholdSnapshot = {
    SERVING: pauseSentence(v.pause),
    PAUSED: v.pause.reason ?? '',
    ...v.settings,
    QUOTA_USED_GB: Math.round(v.quotaUsedGb * 100) / 100,
    SOURCES: v.sources,
  };
  if (v.pause.until !== undefined) s.PAUSED_UNTIL = localTimeText(v.pause.until);
  return s;
}

/** What strangers read: whether the box serves, nothing of why. */
export function publicServing(h: HouseholdSnapshot | undefined): string | undefined {
  if (!h) return undefined;
  return h.PAUSED === '' ? 'serving' : 'paused';
}

/** Rows of the LAN page's table. */
export function householdRows(h: HouseholdSnapshot): Array<[string, string]> {
  const from = (key: SettingKey): string => ` (from ${h.SOURCES[key]})`;
  return [
    ['Serving', h.SERVING],
    ['Upload this month', h.UPLOAD_QUOTA_GB > 0 ? `${h.QUOTA_USED_GB.toFixed(2)} of ${h.UPLOAD_QUOTA_GB} GB${from('UPLOAD_QUOTA_GB')}` : `${h.QUOTA_USED_GB.toFixed(2)} GB, no quota${from('UPLOAD_QUOTA_GB')}`],
    ['Quiet hours', `${h.QUIET_HOURS || 'none'}${from('QUIET_HOURS')}`],
    ['Upload cap', `${h.UPLOAD_CAP_MBIT > 0 ? `${h.UPLOAD_CAP_MBIT} Mbit/s` : 'none'}${from('UPLOAD_CAP_MBIT')}`],
  ];
}

/** The LAN page's form: the three settings, and the way back to dandelion.yaml's values. */
export function householdForm(h: HouseholdSnapshot): string {
  const field = (name: SettingKey, label: string, value: string, hint: string): string =>
    `<p><label>${escapeHtml(label)} <input name="${name}" value="${escapeHtml(value)}"></label> <small>${escapeHtml(hint)}</small></p>`;
  return `<h2>Household settings</h2><form method="post" action="${HOUSEHOLD_PATH}">
${field('UPLOAD_QUOTA_GB', 'Monthly upload quota (GB)', String(h.UPLOAD_QUOTA_GB), '0: no quota')}
${field('QUIET_HOURS', 'Quiet hours', h.QUIET_HOURS, 'e.g. 23:00-07:00,12:00-13:00; empty: none')}
${field('UPLOAD_CAP_MBIT', 'Upload cap (Mbit/s)', String(h.UPLOAD_CAP_MBIT), '0: no cap')}
<p><label><input type="checkbox" name="${USE_CONFIG_FIELD}" value="1"> Use dandelion.yaml's values instead</label></p>
<p><button type="submit">Save</button></p></form>`;
}
