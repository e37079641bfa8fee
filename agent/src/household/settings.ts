/**
 * The household's three settings (UPLOAD_QUOTA_GB, QUIET_HOURS, UPLOAD_CAP_MBIT): dandelion.yaml's values,
 * overridden one by one by what the household set on the status page. Every value, from the config or
 * from the form, goes through the config schema's own parser, so both refuse the same things.
 */
import { AGENT_SCHEMA } from '../../../shared/src/config/schemas.js';
import type { AgentConfig } from '../../../shared/src/config/schemas.js';
import { messageOf } from '../../../shared/src/protocol/errors.js';
import { isRecord } from '../../../shared/src/protocol/json.js';

/** Where the LAN status page's form posts (nginx proxies it to the agent for the box's own networks). */
export const HOUSEHOLD_PATH = '/status/household';
/** The form's checkbox (or a JSON key) that drops the status page's settings for dandelion.yaml's. */
export const USE_CONFIG_FIELD = 'USE_CONFIG';

export const SETTING_KEYS = ['UPLOAD_QUOTA_GB', 'QUIET_HOURS', 'UPLOAD_CAP_MBIT'] as const;
export type SettingKey = (typeof SETTING_KEYS)[number];
export type HouseholdSettings = { -readonly [K in SettingKey]: AgentConfig[K] };
/** What the household set on the status page; a key it did not set comes from dandelion.yaml. */
export type SettingOverrides = Partial<HouseholdSettings>;
/** Where a setting's value comes from, as the status page says it. */
export type SettingSource = 'dandelion.yaml' | 'status page';

/** A field the household sent that the schema refuses: its name and why. */
export class BadSetting extends Error {
  override name = 'BadSetting';
  constructor(readonly field: string, readonly reason: string) {
    super(`${field}: ${reason}`);
  }
}

/** `parse()`'s value, or a BadSetting naming `field` with the parser's reason. */
function parsed<T>(field: SettingKey, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new BadSetting(field, messageOf(err));
  }
}

/**
 * The settings among `raw`'s keys (others are ignored), each through the schema's parser for its key (the
 * same check as at config load); throws BadSetting on the first bad one.
 */
export function decodeOverrides(raw: unknown): SettingOverrides {
  if (!isRecord(raw)) throw new BadSetting('body', 'the settings must be a form or a JSON object of KEY: value');
  const out: SettingOverrides = {};
  if (raw.UPLOAD_QUOTA_GB !== undefined) out.UPLOAD_QUOTA_GB = parsed('UPLOAD_QUOTA_GB', () => AGENT_SCHEMA.UPLOAD_QUOTA_GB.parse(raw.UPLOAD_QUOTA_GB));
  if (raw.QUIET_HOURS !== undefined) out.QUIET_HOURS = parsed('QUIET_HOURS', () => AGENT_SCHEMA.QUIET_HOURS.parse(raw.QUIET_HOURS));
  if (raw.UPLOAD_CAP_MBIT !== undefined) out.UPLOAD_CAP_MBIT = parsed('UPLOAD_CAP_MBIT', () => AGENT_SCHEMA.UPLOAD_CAP_MBIT.parse(raw.UPLOAD_CAP_MBIT));
  return out;
}

/** The settings in force: each override, else the config's value. */
export function effectiveSettings(config: HouseholdSettings, overrides: SettingOverrides): HouseholdSettings {
  return {
    UPLOAD_QUOTA_GB: overrides.UPLOAD_QUOTA_GB ?? config.UPLOAD_QUOTA_GB,
    QUIET_HOURS: overrides.QUIET_HOURS ?? config.QUIET_HOURS,
    UPLOAD_CAP_MBIT: overrides.UPLOAD_CAP_MBIT ?? config.UPLOAD_CAP_MBIT,
  };
}

export function sourcesOf(overrides: SettingOverrides): Record<SettingKey, SettingSource> {
  const source = (key: SettingKey): SettingSource => (overrides[key] === undefined ? 'dandelion.yaml' : 'status page');
  return { UPLOAD_QUOTA_GB: source('UPLOAD_QUOTA_GB'), QUIET_HOURS: source('QUIET_HOURS'), UPLOAD_CAP_MBIT: source('UPLOAD_CAP_MBIT') };
}

/** `next` without the values equal to the config's: a form sent back unchanged overrides nothing. */
export function withoutConfigValues(config: HouseholdSettings, next: SettingOverrides): SettingOverrides {
  const out: SettingOverrides = {};
  if (next.UPLOAD_QUOTA_GB !== undefined && next.UPLOAD_QUOTA_GB !== config.UPLOAD_QUOTA_GB) out.UPLOAD_QUOTA_GB = next.UPLOAD_QUOTA_GB;
  if (next.QUIET_HOURS !== undefined && next.QUIET_HOURS !== config.QUIET_HOURS) out.QUIET_HOURS = next.QUIET_HOURS;
  if (next.UPLOAD_CAP_MBIT !== undefined && next.UPLOAD_CAP_MBIT !== config.UPLOAD_CAP_MBIT) out.UPLOAD_CAP_MBIT = next.UPLOAD_CAP_MBIT;
  return out;
}
