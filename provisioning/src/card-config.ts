/**
 * The box's dandelion.yaml, as the SD card carries it: one file read by two readers, the agent
 * (AGENT_SCHEMA) and the image's first boot (PROVISION_SCHEMA). A card is valid only when the one
 * loader accepts it against both, and when it names no key that neither reads: a typo on a card in
 * someone's home cannot be fixed remotely, so it is refused here instead of ignored there.
 */
import { ENV_PREFIX, loadConfig, readConfigFile } from '../../shared/src/config/load.js';
import { AGENT_SCHEMA, PROVISION_SCHEMA } from '../../shared/src/config/schemas.js';
import type { AgentConfig, ProvisionConfig } from '../../shared/src/config/schemas.js';
import { ConfigError } from '../../shared/src/config/spec.js';

export interface CardConfig {
  agent: AgentConfig;
  provision: ProvisionConfig;
}

/** Keys a box's dandelion.yaml may hold. */
export const CARD_KEYS: ReadonlySet<string> = new Set([...Object.keys(AGENT_SCHEMA), ...Object.keys(PROVISION_SCHEMA)]);

type Problem = { key: string; reason: string };

/**
 * Load `file` against both schemas; every problem of either, and of the keys together, is reported
 * in one ConfigError. `env` is the DANDELION_<KEY> overrides, as for any role (pass {} to judge the
 * file alone).
 */
export function loadCardConfig(file: string, env: NodeJS.ProcessEnv = process.env): CardConfig {
  const problems: Problem[] = [];
  const raw = readConfigFile(file);
  for (const key of Object.keys(raw)) {
    if (!CARD_KEYS.has(key)) problems.push({ key, reason: 'is not a key of a box\'s dandelion.yaml (agent or SD image keys)' });
  }
  const agent = collect(problems, () => loadConfig(AGENT_SCHEMA, file, env).config);
  const provision = collect(problems, () => loadConfig(PROVISION_SCHEMA, file, env).config);
  // Judged on which keys are set, so it is reported beside the other problems even when a value is bad.
  problems.push(...crossCheck((key) => isSet(env[ENV_PREFIX + key] ?? raw[key])));
  if (problems.length > 0 || !agent || !provision) throw new ConfigError(problems);
  return { agent, provision };
}

/** What the schema's per-key checks cannot see: keys that only make sense together. */
function crossCheck(has: (key: keyof ProvisionConfig) => boolean): Problem[] {
  const problems: Problem[] = [];
  if (has('WIFI_SSID') && !has('WIFI_COUNTRY')) {
    problems.push({ key: 'WIFI_COUNTRY', reason: 'is required with WIFI_SSID (the Wi-Fi radio stays off without a regulatory domain)' });
  }
  if (has('WIFI_PASSPHRASE') && !has('WIFI_SSID')) {
    problems.push({ key: 'WIFI_SSID', reason: 'is required with WIFI_PASSPHRASE' });
  }
  return problems;
}

/** As the loader reads optional text: absent, null and '' all mean unset. */
const isSet = (value: unknown): boolean => value !== undefined && value !== null && value !== '';

function collect<T>(problems: Problem[], load: () => T): T | undefined {
  try {
    return load();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
    return undefined;
  }
}
