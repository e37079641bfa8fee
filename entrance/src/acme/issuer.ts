/**
 * One certificate order at the ACME CA for a box's CSR, validated by DNS-01: the TXT value goes to Redis
 * (acmeKeys().challenge), where every entrance's DNS answers it for `_acme-challenge.<box-name>`, and is
 * removed when the order ends, issued or not. The CA reaches the entrance's DNS itself, so acme-client's
 * own pre-check through the system resolver (which need not know this zone yet) is skipped.
 */
import type { Redis } from 'ioredis';
import 'reflect-metadata';
import { X509Certificate } from '@peculiar/x509';
import acme from 'acme-client';
import type { Logger } from '../../../shared/src/log.js';
import { acmeKeys } from '../../../shared/src/redis-keys.js';
import { execOrThrow } from '../../../shared/src/redis.js';
import { acmeAccountKey } from './account-key.js';
import { trustForAcmeServer } from './ca-trust.js';

/** Seconds a TXT value outlives its order at most, should the entrance die before removing it. */
const CHALLENGE_TTL_SECONDS = 300;
/** Longest one order may take before the box is told E_ACME (Let's Encrypt takes seconds). */
const ORDER_TIMEOUT_MS = 120_000;

export interface IssuerDeps {
  redis: Redis;
  directoryUrl: string;
  /** ACME_CA_FILE ('' = system roots). */
  caFile: string;
  /** ACME_EMAIL ('' = none). */
  email: string;
  log: Logger;
}

export interface Issued {
  /** PEM chain, leaf first, as the CA returned it. */
  chain: string;
  /** When the leaf expires, seconds since the epoch. */
  notAfter: number;
}

export class AcmeIssuer {
  private client: Promise<acme.Client> | undefined;

  constructor(private readonly deps: IssuerDeps) {
    if (deps.caFile !== '') trustForAcmeServer(deps.directoryUrl, deps.caFile);
  }

  async issue(csrPem: string): Promise<Issued> {
    const client = await this.acmeClient();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no certificate within ${ORDER_TIMEOUT_MS / 1000} s`)), ORDER_TIMEOUT_MS);
    });
    const order = client.auto({
      csr: csrPem,
      ...(this.deps.email !== '' ? { email: this.deps.email } : {}),
      termsOfServiceAgreed: true,
      challengePriority: ['dns-01'],
      skipChallengeVerification: true,
      challengeCreateFn: (authz, _challenge, value) => this.publish(authz.identifier.value, value),
      challengeRemoveFn: (authz, _challenge, value) => this.withdraw(authz.identifier.value, value),
    });
    try {
      const chain = await Promise.race([order, timeout]);
      return { chain, notAfter: notAfterOf(chain) };
    } catch (err) {
      this.deps.log.warn({ err }, 'ACME order failed');
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The client with its account registered, shared by every order (a failed registration is tried again by the next). */
  private acmeClient(): Promise<acme.Client> {
    this.client ??= this.registeredClient().catch((err: unknown) => {
      this.client = undefined;
      throw err;
    });
    return this.client;
  }

  /**
   * Registered once before any order, because acme-client's auto() registers per order: orders started
   * together would each create the account, and the ones told "it exists" then send an update carrying only
   * the terms agreement, which a CA may refuse as an empty update (pebble does). An account this key already
   * has (another entrance on the Redis, or a restart) is found with onlyReturnExisting, a plain lookup.
   */
  private async registeredClient(): Promise<acme.Client> {
    const client = new acme.Client({ directoryUrl: this.deps.directoryUrl, accountKey: await acmeAccountKey(this.deps.redis) });
    try {
      await client.createAccount({ onlyReturnExisting: true });
    } catch {
      await client.createAccount({ termsOfServiceAgreed: true, ...(this.deps.email !== '' ? { contact: [`mailto:${this.deps.email}`] } : {}) });
    }
    return client;
  }

  private async publish(name: string, value: string): Promise<void> {
    const key = acmeKeys().challenge(name.toLowerCase());
    await execOrThrow(this.deps.redis.multi().sadd(key, value).expire(key, CHALLENGE_TTL_SECONDS).exec());
    this.deps.log.debug({ name }, 'DNS-01 TXT published');
  }

  private async withdraw(name: string, value: string): Promise<void> {
    await this.deps.redis.srem(acmeKeys().challenge(name.toLowerCase()), value);
  }
}

/** The leaf's expiry (the chain's first certificate), seconds since the epoch. */
function notAfterOf(chain: string): number {
  const leaf = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/.exec(chain)?.[0];
  if (leaf === undefined) throw new Error('the CA returned no PEM certificate');
  return Math.floor(new X509Certificate(leaf).notAfter.getTime() / 1000);
}
