/**
 * The one config loader: a YAML file with the original's upper-case keys, then DANDELION_<KEY>
 * environment variables over it, checked against the role's schema once at start and frozen. Every
 * problem is reported together, each naming its key; `main` turns a ConfigError into exit code 2.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { isRecord } from '../protocol/json.js';
import { RETIRED_KEYS, SCHEMAS } from './schemas.js';
import type { Role } from './schemas.js';
import { BadValue, ConfigError } from './spec.js';
import type { ConfigOf, Schema } from './spec.js';
import { messageOf } from '../protocol/errors.js';

export const ENV_PREFIX = 'DANDELION_';

export interface Loaded<S extends Schema> {
  config: ConfigOf<S>;
  /** Things worth a log line but not a refusal, such as keys no role knows. */
  warnings: string[];
}

/** Keys some role reads: the original shared one config.yaml between box and publisher, so a key of another role is no typo. */
const KNOWN_KEYS: ReadonlySet<string> = new Set(Object.values(SCHEMAS).flatMap((s) => Object.keys(s)));

export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ key: '--config', reason: `cannot read ${file}: ${messageOf(err)}` }]);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError([{ key: '--config', reason: `${file} is not valid YAML: ${messageOf(err).split('\n')[0]}` }]);
  }
  if (doc === null || doc === undefined) return {};
  if (!isRecord(doc)) throw new ConfigError([{ key: '--config', reason: `${file} must hold a mapping of KEY: value` }]);
  return doc;
}

export function loadConfig<S extends Schema>(schema: S, file: string | undefined, env: NodeJS.ProcessEnv = process.env): Loaded<S> {
  const fromFile = file === undefined ? {} : readConfigFile(file);
  const problems: Array<{ key: string; reason: string }> = [];
  const warnings: string[] = [];
  for (const key of Object.keys(fromFile)) {
    if (!(key in schema) && !KNOWN_KEYS.has(key) && !(key in RETIRED_KEYS)) warnings.push(`unknown config key ${key} ignored`);
  }
  for (const [key, retired] of Object.entries(RETIRED_KEYS)) {
    if (!(retired.replacedBy in schema)) continue;
    const envText = env[ENV_PREFIX + key];
    const raw = envText ?? fromFile[key];
    if (raw === undefined || raw === null) continue;
    const verdict = retired.check(raw);
    const where = envText !== undefined ? ` (from ${ENV_PREFIX}${key})` : '';
    if ('problem' in verdict) problems.push({ key, reason: `${verdict.problem}${where}` });
    else warnings.push(`${verdict.warning}${where}`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(schema)) {
    const envText = env[ENV_PREFIX + key];
    try {
      if (envText !== undefined) {
        out[key] = spec.parse(spec.fromEnv ? spec.fromEnv(envText) : envText);
      } else if (Object.hasOwn(fromFile, key) && fromFile[key] !== undefined) {
        out[key] = spec.parse(fromFile[key]);
      } else {
        out[key] = spec.default;
      }
    } catch (err) {
      if (!(err instanceof BadValue)) throw err;
      const where = envText !== undefined ? ` (from ${ENV_PREFIX}${key})` : '';
      problems.push({ key, reason: `${err.message}${where}` });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  // Every key of the schema was set above by its own spec's parse, so `out` is the schema's shape; TypeScript
  // cannot follow a loop over a mapped type, so this is the one place the decoded config is given its type.
  return { config: deepFreeze(out) as ConfigOf<S>, warnings };
}

export function loadRoleConfig<R extends Role>(role: R, file: string | undefined, env?: NodeJS.ProcessEnv): Loaded<(typeof SCHEMAS)[R]> {
  return loadConfig(SCHEMAS[role], file, env);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
