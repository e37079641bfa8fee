/**
 * Messages stored as Redis hashes, as the original kept exchanges: one field per key. Strings are
 * stored as they are and numbers as decimal text, so a tool reading the hash sees what the original
 * stored; objects (GEOIP, traffic records) are stored as JSON text and come back as objects, because
 * the decoder that reads a hash back is the same one that reads the wire.
 */
import { ProtocolError } from './errors.js';
import { isRecord } from './json.js';
import { decodeBoxExchange, decodeEnvelope, trafficKeyOwner } from './messages.js';
import type { BoxExchange } from './messages.js';

export function toHash(msg: object): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(msg)) {
    if (value === undefined) continue;
    out[key] = typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
  return out;
}

/** Fields whose stored text is JSON. Only these are parsed: a string that merely looks like JSON stays a string. */
function isObjectField(key: string): boolean {
  return key === 'GEOIP' || key === 'TRAFFIC_AGGREGATES' || trafficKeyOwner(key) !== undefined;
}

export function boxExchangeFromHash(hash: Record<string, string>): BoxExchange {
  const rec: Record<string, unknown> = {};
  for (const [key, text] of Object.entries(hash)) {
    if (!isObjectField(key)) {
      rec[key] = text;
      continue;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ProtocolError('E_FORMAT', `stored ${key} is not JSON`);
    }
    if (!isRecord(parsed) && !Array.isArray(parsed)) throw new ProtocolError('E_FORMAT', `stored ${key} is not an object`);
    rec[key] = parsed;
  }
  return decodeBoxExchange(rec, decodeEnvelope(rec));
}
