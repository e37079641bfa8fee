/**
 * The fleet's signing keys: every entrance on one Redis signs grants (shared/src/trust/grant.ts) with the
 * same current Ed25519 key, and boxes learn the public halves in EXCHANGE replies. Rotation makes a new
 * key current; a retired key is still listed until every grant it signed has expired, so rotating never
 * strands a publisher mid-stream. Private keys live in Redis beside the enrolment records: whoever can
 * write to the entrances' Redis already controls the fleet.
 */
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { Redis } from 'ioredis';
import { parsePublicKey, publicKeyText } from '../../../shared/src/enrolment/codec.js';
import { isRecord, parseJsonSafe } from '../../../shared/src/protocol/json.js';
import type { TrustKeys } from '../../../shared/src/redis-keys.js';
import { awaitReplica } from '../../../shared/src/redis-replica-wait.js';
import { keyIdOf } from '../../../shared/src/trust/grant.js';

export interface SigningKey {
  keyId: string;
  privateKey: KeyObject;
}

interface StoredKey {
  PUBLIC_KEY: string;
  PRIVATE_KEY: string;
  CREATED: number;
  RETIRED?: number;
}

export interface FleetKeysDeps {
  redis: Redis;
  keys: TrustKeys;
  /** How long a grant lives: a retired key is listed this long after its retirement. */
  grantSeconds: number;
  now?: () => number;
}

/** Stored key texts remembered decoded at most (a fleet lists one current key and a few retired ones). */
const MAX_DECODED = 64;

export class FleetKeys {
  /**
   * Stored text → what it decodes to. Every EXCHANGE reply lists the fleet keys, and parsing a public key
   * (createPublicKey) was the entrance's largest cost per heartbeat; the text is still read from Redis
   * each time, so a rotation reaches boxes with their next heartbeat as before.
   */
  private readonly decoded = new Map<string, StoredKey | undefined>();

  constructor(private readonly deps: FleetKeysDeps) {}

  private decode(text: string): StoredKey | undefined {
    if (this.decoded.has(text)) return this.decoded.get(text);
    const stored = decodeStoredKey(text);
    if (this.decoded.size >= MAX_DECODED) this.decoded.clear();
    this.decoded.set(text, stored);
    return stored;
  }

  private nowSeconds(): number {
    return Math.floor((this.deps.now ?? Date.now)() / 1000);
  }

  /** The key grants are signed with now; the first entrance to ask creates it (SET NX, so all agree). */
  async current(): Promise<SigningKey> {
    const { redis, keys } = this.deps;
    let keyId = await redis.get(keys.currentFleetKey);
    if (keyId === null) {
      const made = await this.store();
      keyId = (await redis.set(keys.currentFleetKey, made, 'NX')) === 'OK' ? made : await redis.get(keys.currentFleetKey);
      if (keyId !== made) await redis.hdel(keys.fleetKeys, made); // another entrance won the race: its key is the fleet's
      // Grants signed with a key a failover lost would be refused by every box: keep it first.
      await awaitReplica(redis, keys.currentFleetKey);
    }
    const stored = keyId === null ? undefined : await this.read(keyId);
    if (keyId === null || stored === undefined) throw new Error(`the current fleet key ${keyId ?? '(none)'} is missing or unreadable in Redis`);
    return { keyId, privateKey: createPrivateKey({ key: Buffer.from(stored.PRIVATE_KEY, 'base64'), format: 'der', type: 'pkcs8' }) };
  }

  /** Make a new key current; the old one is retired, and listed until its last grant expires. */
  async rotate(): Promise<string> {
    const { redis, keys } = this.deps;
    const previous = await redis.get(keys.currentFleetKey);
    const made = await this.store();
    await redis.set(keys.currentFleetKey, made);
    const old = previous === null ? undefined : await this.read(previous);
    if (previous !== null && old !== undefined) await redis.hset(keys.fleetKeys, previous, JSON.stringify({ ...old, RETIRED: this.nowSeconds() }));
    await awaitReplica(redis, keys.currentFleetKey);
    return made;
  }

  /** Key ID → public key text of every key a live grant may be signed with: what boxes are told. */
  async publicKeys(): Promise<Record<string, string>> {
    const all = await this.deps.redis.hgetall(this.deps.keys.fleetKeys);
    const out: Record<string, string> = {};
    const oldest = this.nowSeconds() - this.deps.grantSeconds;
    for (const [keyId, text] of Object.entries(all)) {
      const stored = this.decode(text);
      if (stored === undefined || (stored.RETIRED !== undefined && stored.RETIRED < oldest)) continue;
      out[keyId] = stored.PUBLIC_KEY;
    }
    return out;
  }

  /** Forget retired keys no live grant can name any more. */
  async prune(): Promise<number> {
    const { redis, keys } = this.deps;
    const listed = await this.publicKeys();
    const gone = Object.keys(await redis.hgetall(keys.fleetKeys)).filter((keyId) => !(keyId in listed));
    if (gone.length > 0) await redis.hdel(keys.fleetKeys, ...gone);
    return gone.length;
  }

  private async store(): Promise<string> {
    const { privateKey } = generateKeyPairSync('ed25519');
    const publicText = publicKeyText(privateKey);
    const keyId = keyIdOf(publicText);
    const stored: StoredKey = { PUBLIC_KEY: publicText, PRIVATE_KEY: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'), CREATED: this.nowSeconds() };
    await this.deps.redis.hset(this.deps.keys.fleetKeys, keyId, JSON.stringify(stored));
    return keyId;
  }

  private async read(keyId: string): Promise<StoredKey | undefined> {
    const text = await this.deps.redis.hget(this.deps.keys.fleetKeys, keyId);
    return text === null ? undefined : this.decode(text);
  }
}

/** One stored key, or undefined when the text is not one (a damaged entry is skipped, never trusted). */
export function decodeStoredKey(text: string): StoredKey | undefined {
  let doc: unknown;
  try {
    doc = parseJsonSafe(text);
  } catch {
    return undefined; // not JSON: not a key
  }
  if (!isRecord(doc)) return undefined;
  const { PUBLIC_KEY, PRIVATE_KEY, CREATED, RETIRED } = doc;
  if (typeof PUBLIC_KEY !== 'string' || parsePublicKey(PUBLIC_KEY) === undefined) return undefined;
  if (typeof PRIVATE_KEY !== 'string' || typeof CREATED !== 'number') return undefined;
  if (RETIRED !== undefined && typeof RETIRED !== 'number') return undefined;
  return RETIRED === undefined ? { PUBLIC_KEY, PRIVATE_KEY, CREATED } : { PUBLIC_KEY, PRIVATE_KEY, CREATED, RETIRED };
}
