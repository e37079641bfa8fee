import { ProtocolError, messageOf } from './errors.js';

const POISON_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * JSON.parse that drops `__proto__`, `constructor` and `prototype` keys, so an object parsed from the
 * network can be spread or merged without poisoning prototypes (see fastify's Prototype-Poisoning guide).
 */
export function parseJsonSafe(text: string): unknown {
  try {
    return JSON.parse(text, (key, value: unknown) => (POISON_KEYS.has(key) ? undefined : value));
  } catch (err) {
    throw new ProtocolError('E_FORMAT', `not valid JSON: ${messageOf(err)}`);
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
