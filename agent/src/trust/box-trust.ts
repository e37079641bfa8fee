/**
 * What a box checks publishers with, offline: the fleet public keys its entrance signs grants with
 * (pinned at enrolment, then replaced by each EXCHANGE reply's FLEET_KEYS, so a rotated key arrives and a
 * retired one leaves by key ID) and the publishers an operator revoked. Kept in the run directory, so a
 * box that restarts while its entrance is unreachable still checks grants, and still refuses the revoked.
 *
 * An entrance whose replies carry no FLEET_KEYS (an original one, or REQUIRE_PUBLISHER_AUTH false) has
 * the box take any PUBLISH, as before grants existed.
 */
import type { KeyObject } from 'node:crypto';
import { readFile, rename } from 'node:fs/promises';
import { parsePublicKey } from '../../../shared/src/enrolment/codec.js';
import { writeFileAtomic } from '../../../shared/src/fs-atomic.js';
import type { Logger } from '../../../shared/src/log.js';
import { Close, ProtocolError, errnoOf, isIdOf, isRecord, messageOf, parseJsonSafe } from '../../../shared/src/protocol/index.js';
import type { ExchangeReply } from '../../../shared/src/protocol/index.js';
import { keyIdOf, verifyGrant } from '../../../shared/src/trust/grant.js';
import type { Grant } from '../../../shared/src/trust/grant.js';

/** What is kept on disk: FLEET_KEYS absent means "take any PUBLISH". */
interface TrustState {
  FLEET_KEYS?: Record<string, string>;
  REVOKED_PUBLISHERS: string[];
}

export interface BoxTrustDeps {
  /** <RUN_DIRECTORY>/fleet-trust.json */
  file: string;
  log: Logger;
  now?: () => number;
}

export class BoxTrust {
  private state: TrustState = { REVOKED_PUBLISHERS: [] };
  private keys = new Map<string, KeyObject>();
  private revoked = new Set<string>();
  private saved = JSON.stringify(this.state);

  constructor(private readonly deps: BoxTrustDeps) {}

  /** Whether PUBLISH needs a grant: the box's entrance sends fleet keys. */
  get required(): boolean {
    return this.state.FLEET_KEYS !== undefined;
  }

  isRevoked(publisherId: string): boolean {
    return this.revoked.has(publisherId);
  }

  /**
   * Read the kept state. One that cannot be read is set aside and the box refuses every PUBLISH until
   * its entrance's next EXCHANGE reply says what to check: failing open would let anyone write meanwhile.
   */
  async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.deps.file, 'utf8');
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return;
      throw new Error(`cannot read ${this.deps.file}: ${messageOf(err)}`);
    }
    const state = decodeState(text);
    if (state === undefined) {
      const aside = `${this.deps.file}.unreadable-${Date.now()}`;
      this.deps.log.error({ file: this.deps.file, aside }, 'fleet trust file unreadable; set aside, refusing PUBLISH until the entrance sends the fleet keys');
      await rename(this.deps.file, aside);
      this.apply({ FLEET_KEYS: {}, REVOKED_PUBLISHERS: [] });
      return;
    }
    this.apply(state);
    this.saved = JSON.stringify(this.state);
  }

  /** The fleet keys the enrolment answer carried: checked from the first PUBLISH on, before any EXCHANGE. */
  async pin(fleetKeys: Record<string, string>): Promise<void> {
    await this.update({ FLEET_KEYS: fleetKeys, REVOKED_PUBLISHERS: this.state.REVOKED_PUBLISHERS });
  }

  /** Take an EXCHANGE reply's view; resolves with the revoked publishers (whose files the caller removes). */
  async learn(reply: Pick<ExchangeReply, 'FLEET_KEYS' | 'REVOKED_PUBLISHERS'>): Promise<string[]> {
    const state: TrustState = { REVOKED_PUBLISHERS: reply.REVOKED_PUBLISHERS ?? [] };
    if (reply.FLEET_KEYS !== undefined) state.FLEET_KEYS = reply.FLEET_KEYS;
    await this.update(state);
    return this.state.REVOKED_PUBLISHERS;
  }

  /**
   * The grant that lets the publisher PUBLISH as `publisherId`, or E_AUTH (the socket closes) saying why:
   * missing, expired, forged, signed by a key this box does not know, for another publisher, or revoked.
   */
  admit(publisherId: string, grantText: string | undefined): Grant {
    const check = verifyGrant(grantText, this.keys, this.nowSeconds());
    if (!check.ok) throw new ProtocolError('E_AUTH', check.reason, Close.AUTH);
    if (check.grant.PUBLISHER !== publisherId) {
      throw new ProtocolError('E_AUTH', `the grant is for ${check.grant.PUBLISHER}, not ${publisherId}`, Close.AUTH);
    }
    this.refuseRevoked(publisherId);
    return check.grant;
  }

  /** E_AUTH when a grant admitted earlier on a socket has since expired, or its publisher was revoked. */
  checkStillValid(grant: Grant): void {
    this.refuseRevoked(grant.PUBLISHER);
    if (grant.EXPIRES <= this.nowSeconds()) {
      throw new ProtocolError('E_AUTH', 'the grant expired: search again and send PUBLISH with the fresh grant', Close.AUTH);
    }
  }

  private refuseRevoked(publisherId: string): void {
    if (this.revoked.has(publisherId)) throw new ProtocolError('E_AUTH', `${publisherId} was revoked by an operator`, Close.AUTH);
  }

  private nowSeconds(): number {
    return Math.floor((this.deps.now ?? Date.now)() / 1000);
  }

  private async update(state: TrustState): Promise<void> {
    this.apply(state);
    const text = JSON.stringify(this.state);
    if (text === this.saved) return;
    await writeFileAtomic(this.deps.file, text, 0o600);
    this.saved = text;
    this.deps.log.info({ keys: [...this.keys.keys()], revoked: this.revoked.size, required: this.required }, 'fleet trust updated');
  }

  /** Keys whose ID is not their keyIdOf are skipped: a grant names its key by that ID. */
  private apply(state: TrustState): void {
    const keys = new Map<string, KeyObject>();
    const kept: Record<string, string> = {};
    for (const [keyId, text] of Object.entries(state.FLEET_KEYS ?? {})) {
      const key = parsePublicKey(text);
      if (key === undefined || keyIdOf(text) !== keyId) {
        this.deps.log.warn({ keyId }, 'fleet key skipped: not an Ed25519 public key with that key ID');
        continue;
      }
      keys.set(keyId, key);
      kept[keyId] = text;
    }
    const revoked = [...new Set(state.REVOKED_PUBLISHERS)].sort();
    this.state = state.FLEET_KEYS === undefined ? { REVOKED_PUBLISHERS: revoked } : { FLEET_KEYS: kept, REVOKED_PUBLISHERS: revoked };
    this.keys = keys;
    this.revoked = new Set(revoked);
  }
}

function decodeState(text: string): TrustState | undefined {
  let doc: unknown;
  try {
    doc = parseJsonSafe(text);
  } catch {
    return undefined; // not JSON: the caller sets the file aside
  }
  if (!isRecord(doc)) return undefined;
  const { FLEET_KEYS, REVOKED_PUBLISHERS } = doc;
  if (!Array.isArray(REVOKED_PUBLISHERS)) return undefined;
  const revoked = REVOKED_PUBLISHERS.filter((id): id is string => typeof id === 'string' && isIdOf(id, 'PUBLISHER'));
  if (FLEET_KEYS === undefined) return { REVOKED_PUBLISHERS: revoked };
  if (!isRecord(FLEET_KEYS)) return undefined;
  const keys: Record<string, string> = {};
  for (const [keyId, value] of Object.entries(FLEET_KEYS)) if (typeof value === 'string') keys[keyId] = value;
  return { FLEET_KEYS: keys, REVOKED_PUBLISHERS: revoked };
}
