/**
 * The household's fields of every EXCHANGE (box → entrance), so the dashboard shows which boxes are paused
 * and why, and SEARCH leaves them out: PAUSED ('quota' | 'quiet-hours' | '' serving), PAUSED_UNTIL (epoch
 * seconds, only while paused), UPLOAD_CAP_MBIT, QUOTA_GB and QUOTA_USED_GB (two decimals; QUOTA_GB 0 = none).
 */
import type { BoxExchange } from '../../../shared/src/protocol/messages.js';
import type { HouseholdView } from './household.js';

export type HouseholdExchangeFields = Required<Pick<BoxExchange, 'PAUSED' | 'UPLOAD_CAP_MBIT' | 'QUOTA_GB' | 'QUOTA_USED_GB'>> & Pick<BoxExchange, 'PAUSED_UNTIL'>;

const twoDecimals = (n: number): number => Math.round(n * 100) / 100;

export function householdExchangeFields(v: HouseholdView): HouseholdExchangeFields {
  const fields: HouseholdExchangeFields = {
    PAUSED: v.pause.reason ?? '',
    UPLOAD_CAP_MBIT: v.settings.UPLOAD_CAP_MBIT,
    QUOTA_GB: v.settings.UPLOAD_QUOTA_GB,
    QUOTA_USED_GB: twoDecimals(v.quotaUsedGb),
  };
  if (v.pause.until !== undefined) fields.PAUSED_UNTIL = Math.ceil(v.pause.until / 1000);
  return fields;
}
