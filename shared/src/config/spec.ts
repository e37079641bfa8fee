/**
 * How one config key is declared: its doc, its default and the parser that checks a raw value (from
 * YAML or from a DANDELION_<KEY> environment variable). A schema is a table of these, and the config
 * type is derived from the table, so a key's check and its type cannot drift apart.
 */
import net from 'node:net';
import { parseCron } from '../cron.js';
import { isRecord } from '../protocol/json.js';
import { isOneOf } from '../protocol/fields.js';
import { messageOf } from '../protocol/errors.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly problems: ReadonlyArray<{ key: string; reason: string }>) {
    super(problems.map((p) => `${p.key}: ${p.reason}`).join('; '));
  }
}

/** Thrown by a parser; the loader adds the key's name. */
export class BadValue extends Error {}

export interface Spec<T> {
  doc: string;
  /** Used when neither the file nor the environment sets the key. */
  default: T;
  /** How the default reads in the example config ('' hides it behind a comment). */
  exampleText?: string;
  parse(raw: unknown): T;
  /** From environment text to the raw form parse() takes (lists and objects are JSON or comma lists). */
  fromEnv?(text: string): unknown;
}

export type Schema = Record<string, Spec<unknown>>;
export type ConfigOf<S extends Schema> = { readonly [K in keyof S]: S[K] extends Spec<infer T> ? T : never };

function asText(raw: unknown): string {
  if (typeof raw === 'string') return raw;
  if (typeof raw === 'number' || typeof raw === 'boolean') return String(raw);
  throw new BadValue('must be text');
}

export function str(doc: string, def: string, check?: (s: string) => string | undefined): Spec<string> {
  return {
    doc,
    default: def,
    parse(raw) {
      const s = raw === null ? '' : asText(raw);
      const problem = check?.(s);
      if (problem !== undefined) throw new BadValue(problem);
      return s;
    },
  };
}

export function optionalStr(doc: string, check?: (s: string) => string | undefined): Spec<string | undefined> {
  return {
    doc,
    default: undefined,
    exampleText: '',
    parse(raw) {
      if (raw === null || raw === undefined || raw === '') return undefined;
      const s = asText(raw);
      const problem = check?.(s);
      if (problem !== undefined) throw new BadValue(problem);
      return s;
    },
  };
}

export function num(doc: string, def: number, { min = -Infinity, max = Infinity, integer = false } = {}): Spec<number> {
  return {
    doc,
    default: def,
    parse(raw) {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
      if (!Number.isFinite(n)) throw new BadValue('must be a number');
      if (integer && !Number.isInteger(n)) throw new BadValue('must be a whole number');
      if (n < min || n > max) throw new BadValue(`must be between ${min} and ${max}`);
      return n;
    },
  };
}

export const port = (doc: string, def: number): Spec<number> => num(doc, def, { min: 1, max: 65535, integer: true });
/** A port where 0 means "any free port" (tests, the demo). */
export const listenPort = (doc: string, def: number): Spec<number> => num(doc, def, { min: 0, max: 65535, integer: true });

export function bool(doc: string, def: boolean): Spec<boolean> {
  return {
    doc,
    default: def,
    parse(raw) {
      if (typeof raw === 'boolean') return raw;
      const s = asText(raw).trim().toLowerCase();
      if (['true', 'yes', 'on', '1'].includes(s)) return true;
      if (['false', 'no', 'off', '0'].includes(s)) return false;
      throw new BadValue('must be true or false');
    },
  };
}

export function oneOf<T extends string>(doc: string, values: readonly T[], def: T): Spec<T> {
  return {
    doc: `${doc} One of: ${values.join(', ')}.`,
    default: def,
    parse(raw) {
      const s = asText(raw);
      if (!isOneOf(values, s)) throw new BadValue(`must be one of ${values.join(', ')}`);
      return s;
    },
  };
}

export function list(doc: string, def: string[], check?: (s: string) => string | undefined): Spec<string[]> {
  return {
    doc,
    default: def,
    parse(raw) {
      if (raw === null || raw === undefined) return [];
      if (!Array.isArray(raw)) throw new BadValue('must be a list');
      return raw.map((item, i) => {
        const s = asText(item);
        const problem = check?.(s);
        if (problem !== undefined) throw new BadValue(`item ${i}: ${problem}`);
        return s;
      });
    },
    fromEnv: (text) => (text.trim().startsWith('[') ? parseEnvJson(text) : text.split(',').map((s) => s.trim()).filter(Boolean)),
  };
}

/** A mapping checked by `decode` (for example GEOIP, decoded by the protocol's own decoder). */
export function record<T>(doc: string, decode: (raw: Record<string, unknown>) => T): Spec<T | undefined> {
  return {
    doc,
    default: undefined,
    exampleText: '',
    parse(raw) {
      if (raw === null || raw === undefined) return undefined;
      if (!isRecord(raw)) throw new BadValue('must be a mapping');
      try {
        return decode(raw);
      } catch (err) {
        throw new BadValue(messageOf(err));
      }
    },
    fromEnv: parseEnvJson,
  };
}

function parseEnvJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new BadValue('must be JSON in the environment variable');
  }
}

// Checks shared by several keys.
export const checkHost = (s: string): string | undefined =>
  net.isIP(s) !== 0 || /^[A-Za-z0-9.-]{1,253}$/.test(s) ? undefined : 'must be an IP address or host name';
/** `host:port` of one Redis Cluster node (an IPv6 address in brackets: `[::1]:7000`). */
export const checkHostPort = (s: string): string | undefined => {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(s);
  const host = m?.[1] ?? m?.[2];
  if (!m || host === undefined || checkHost(host) !== undefined || Number(m[3]) < 1 || Number(m[3]) > 65535) return 'must be host:port';
  return undefined;
};
export const checkWsUrl = (s: string): string | undefined => {
  try {
    const u = new URL(s);
    return ['ws:', 'wss:', 'http:', 'https:'].includes(u.protocol) ? undefined : 'must be a ws://, wss://, http:// or https:// URL';
  } catch {
    return 'must be a URL';
  }
};
export const checkHttpsUrl = (s: string): string | undefined => {
  try {
    return new URL(s).protocol === 'https:' ? undefined : 'must be an https:// URL';
  } catch {
    return 'must be a URL';
  }
};
export const checkRedisUrl = (s: string): string | undefined => {
  try {
    const u = new URL(s);
    return ['redis:', 'rediss:', 'unix:'].includes(u.protocol) ? undefined : 'must be redis://, rediss:// or unix:///path';
  } catch {
    return 'must be a URL such as redis://127.0.0.1:6379/0';
  }
};
export const checkUrlPath = (s: string): string | undefined =>
  /^[A-Za-z0-9_.~/-]*$/.test(s) ? undefined : 'may hold only letters, digits and _ . ~ / -';
export const checkCron = (s: string): string | undefined => {
  const parsed = parseCron(s);
  return typeof parsed === 'string' ? `must be a node-cron schedule such as "*/10 * * * * *" (seconds first, optional): ${parsed}` : undefined;
};

/** A list of mappings, each checked by `decode` (for example DASHBOARD_USERS). */
export function recordList<T>(doc: string, decode: (raw: Record<string, unknown>, index: number) => T): Spec<T[]> {
  return {
    doc,
    default: [],
    exampleText: '',
    parse(raw) {
      if (raw === null || raw === undefined) return [];
      if (!Array.isArray(raw)) throw new BadValue('must be a list');
      return raw.map((item, i) => {
        if (!isRecord(item)) throw new BadValue(`item ${i} must be a mapping`);
        try {
          return decode(item, i);
        } catch (err) {
          throw new BadValue(`item ${i}: ${messageOf(err)}`);
        }
      });
    },
    fromEnv: parseEnvJson,
  };
}
