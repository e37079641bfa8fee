/**
 * Small checks for one field of an untrusted record. Each throws a ProtocolError naming the field, so
 * the peer's ERROR says exactly what was wrong. Decoders in messages.ts and frame.ts are built from these.
 */
import net from 'node:net';
import { ProtocolError } from './errors.js';
import { isRecord } from './json.js';

export const Limits = {
  idChars: 100,
  ipChars: 253,
  stringChars: 1024,
  urlChars: 2048,
  keyChars: 200,
  keysPerMessage: 1024,
  /** A grant (trust/grant.ts) is a few hundred characters; anything far longer is not one. */
  grantChars: 2048,
  /** Fleet public keys an EXCHANGE reply lists: the current one and those whose grants may still be live. */
  fleetKeys: 8,
  /** Revoked publishers an EXCHANGE reply lists. */
  revokedPublishers: 1000,
  /** Why a publisher quarantined a box, as the dashboard shows it. */
  quarantineReasonChars: 300,
  /** A CSR in PEM: an RSA 4096 one is under 2 KiB; anything far longer is not a box's CSR. */
  csrChars: 8192,
  /** A certificate chain in PEM (a leaf and a few intermediates) as an ACME CA returns it. */
  certificateChainChars: 64 * 1024,
  /** What a router answered when it refused a port mapping, as the dashboard shows it. */
  portMappingErrorChars: 200,
  /** A word from a fixed list (a verdict, a method): anything longer is not one. */
  enumChars: 40,
  /** One sentence of advice for a household (REACHABILITY_ADVICE). */
  adviceChars: 500,
} as const;

/** Whether `s` is one of `values`: narrows a string read from a peer to a union of literals without a cast. */
export function isOneOf<T extends string>(values: readonly T[], s: string): s is T {
  return values.some((v) => v === s);
}

export function isEmpty(v: unknown): boolean {
  return v === undefined || v === null || (typeof v === 'string' && v.trim() === '');
}

export function requireString(rec: Record<string, unknown>, key: string, max: number = Limits.stringChars): string {
  const v = rec[key];
  if (isEmpty(v)) throw new ProtocolError('E_FORMAT', `${key} is missing or empty`);
  return checkString(v, key, max);
}

export function optionalString(rec: Record<string, unknown>, key: string, max: number = Limits.stringChars): string | undefined {
  const v = rec[key];
  if (v === undefined || v === null) return undefined;
  return checkString(v, key, max);
}

function checkString(v: unknown, key: string, max: number): string {
  if (typeof v === 'number' && Number.isFinite(v)) v = String(v);
  if (typeof v !== 'string') throw new ProtocolError('E_FORMAT', `${key} must be a string`);
  if (v.length > max) throw new ProtocolError('E_TOO_BIG', `${key} is longer than ${max} characters`);
  // Control characters never belong in an identifier, address or URL and break log lines.
  if (/[\u0000-\u001f\u007f]/.test(v)) throw new ProtocolError('E_FORMAT', `${key} holds control characters`);
  return v;
}

/** A number, or a string holding one: the original kept exchanges in Redis hashes and sent strings. */
export function toNumber(v: unknown, key: string, { min = -Infinity, max = Infinity } = {}): number {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && v.trim() !== '' && v.length <= 64) n = Number(v);
  else throw new ProtocolError('E_FORMAT', `${key} must be a number`);
  if (!Number.isFinite(n)) throw new ProtocolError('E_FORMAT', `${key} must be a finite number`);
  if (n < min || n > max) throw new ProtocolError('E_FORMAT', `${key} must be between ${min} and ${max}`);
  return n;
}

export function optionalNumber(rec: Record<string, unknown>, key: string, range?: { min?: number; max?: number }): number | undefined {
  const v = rec[key];
  if (v === undefined || v === null || v === '') return undefined;
  return toNumber(v, key, range);
}

export function toPort(v: unknown, key: string): number {
  const n = toNumber(v, key, { min: 1, max: 65535 });
  if (!Number.isInteger(n)) throw new ProtocolError('E_FORMAT', `${key} must be a whole number`);
  return n;
}

/** An IPv4/IPv6 literal or a DNS name (labels of at most 63 characters, 253 in all: RFC 1035). */
export function toHost(v: unknown, key: string): string {
  const s = checkString(v, key, Limits.ipChars);
  if (net.isIP(s) === 0 && !/^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/.test(s)) {
    throw new ProtocolError('E_FORMAT', `${key} is not an IP address or host name`);
  }
  return s;
}

/** A URL as sent (checked as a string first) and parsed; the caller checks its scheme. */
function parseUrl(v: unknown, key: string): { s: string; url: URL } {
  const s = checkString(v, key, Limits.urlChars);
  try {
    return { s, url: new URL(s) };
  } catch {
    throw new ProtocolError('E_FORMAT', `${key} is not a URL`);
  }
}

export function toWsUrl(v: unknown, key: string): string {
  const { s, url } = parseUrl(v, key);
  // The original wrote entrance URLs as https://…; a WebSocket client maps http(s) to ws(s).
  if (!['ws:', 'wss:', 'http:', 'https:'].includes(url.protocol)) {
    throw new ProtocolError('E_FORMAT', `${key} must be a ws://, wss://, http:// or https:// URL`);
  }
  return s;
}

/**
 * One or more PEM blocks of `label` and nothing else (a CSR, a certificate chain): the only text with line
 * breaks a message may carry.
 */
export function requirePem(rec: Record<string, unknown>, key: string, label: string, max: number): string {
  const v = rec[key];
  if (isEmpty(v)) throw new ProtocolError('E_FORMAT', `${key} is missing or empty`);
  if (typeof v !== 'string') throw new ProtocolError('E_FORMAT', `${key} must be a string`);
  if (v.length > max) throw new ProtocolError('E_TOO_BIG', `${key} is longer than ${max} characters`);
  const block = `-----BEGIN ${label}-----\\r?\\n[A-Za-z0-9+/=\\r\\n]+-----END ${label}-----`;
  if (!new RegExp(`^\\s*(?:${block}\\s*)+$`).test(v)) throw new ProtocolError('E_FORMAT', `${key} must be PEM (${label})`);
  return v;
}

/** An http:// or https:// URL (where a box downloads an update from its entrance). */
export function toHttpUrl(v: unknown, key: string): string {
  const { s, url } = parseUrl(v, key);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ProtocolError('E_FORMAT', `${key} must be an http:// or https:// URL`);
  return s;
}

/** An https:// URL (a box's HTTPS_URL, served with its certificate). */
export function toHttpsUrl(v: unknown, key: string): string {
  const { s, url } = parseUrl(v, key);
  if (url.protocol !== 'https:') throw new ProtocolError('E_FORMAT', `${key} must be an https:// URL`);
  return s;
}

export function optionalRecord(rec: Record<string, unknown>, key: string): Record<string, unknown> | undefined {
  const v = rec[key];
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v)) throw new ProtocolError('E_FORMAT', `${key} must be an object`);
  return v;
}

export function checkKeyCount(rec: Record<string, unknown>, what: string): void {
  let n = 0;
  for (const k in rec) {
    if (++n > Limits.keysPerMessage) throw new ProtocolError('E_TOO_BIG', `${what} has more than ${Limits.keysPerMessage} keys`);
    if (k.length > Limits.keyChars) throw new ProtocolError('E_TOO_BIG', `${what} has a key longer than ${Limits.keyChars} characters`);
  }
}
