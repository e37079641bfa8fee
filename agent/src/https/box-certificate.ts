/**
 * The box's HTTPS certificate over its life: at start a stored chain that is still valid is served at
 * once; when an entrance gives the box a name (BOX_NAME in its EXCHANGE reply) and the box holds no
 * certificate for it, or two thirds of the certificate's lifetime have passed, the box sends a CSR
 * (CERTIFY) over that entrance's link, checks the chain it gets back, stores it and has it served.
 * The check runs on every accepted EXCHANGE, so renewal happens within one heartbeat of its time and
 * needs no timer of its own. A refused or failed request leaves the current certificate served and is
 * retried with capped exponential backoff.
 */
import type { KeyObject } from 'node:crypto';
import { Backoff } from '../../../shared/src/backoff.js';
import type { Logger } from '../../../shared/src/log.js';
import { messageOf } from '../../../shared/src/protocol/index.js';
import type { CertifyReply } from '../../../shared/src/protocol/index.js';
import { isBoxName } from './box-name.js';
import { loadStoredChain, saveChain } from './certificate-files.js';
import type { CertificatePaths } from './certificate-files.js';
import { certificateRequest } from './csr.js';
import { checkIssuedChain } from './issued-chain.js';
import type { IssuedCertificate } from './issued-chain.js';
import { loadOrCreateTlsKey } from './tls-key.js';

/** Renew once this share of the certificate's lifetime has passed. */
export const RENEW_AT_LIFETIME_SHARE = 2 / 3;
/** First and longest wait after a failed request (ACME rate limits are per hour and per week). */
export const RETRY_FIRST_MS = 30_000;
export const RETRY_MAX_MS = 60 * 60_000;

export interface BoxCertificateDeps {
  paths: CertificatePaths;
  /** Send the CSR over the link to the entrance at `url` and resolve with its reply (rejects on ERROR or timeout). */
  certify(csrPem: string, url: string): Promise<CertifyReply>;
  /** A new certificate is stored: serve it (reload nginx), announce it. */
  serve(issued: IssuedCertificate): Promise<void>;
  log: Logger;
  now?: () => number;
  /** Waits after failures (tests shorten them). */
  backoff?: Backoff;
}

export class BoxCertificate {
  private key: KeyObject | undefined;
  private held: IssuedCertificate | undefined;
  private requesting: Promise<void> | undefined;
  private nextAttemptMs = 0;
  private lastError: string | undefined;
  private readonly backoff: Backoff;
  private readonly now: () => number;

  constructor(private readonly deps: BoxCertificateDeps) {
    this.backoff = deps.backoff ?? new Backoff(RETRY_FIRST_MS, RETRY_MAX_MS);
    this.now = deps.now ?? Date.now;
  }

  /** The certificate served now, if any. */
  get current(): IssuedCertificate | undefined {
    return this.held;
  }

  /** Why the last request failed (cleared by a success). */
  get failure(): string | undefined {
    return this.lastError;
  }

  /** Load (or make) the key and take a stored chain that is still valid; nginx serves it from its first start. */
  async load(): Promise<IssuedCertificate | undefined> {
    this.key = await loadOrCreateTlsKey(this.deps.paths.keyPath, this.deps.log);
    this.held = await loadStoredChain(this.deps.paths, this.key, this.now(), this.deps.log);
    if (this.held) this.deps.log.info({ name: this.held.name, notAfter: new Date(this.held.notAfterMs).toISOString() }, 'stored certificate served');
    return this.held;
  }

  /** An entrance at `url` named this box `name`: ask it for a certificate if one is due and no request is under way. */
  nameGiven(name: string, url: string): void {
    if (this.key === undefined || this.requesting !== undefined || !isBoxName(name)) return;
    const now = this.now();
    if (!this.due(name, now) || now < this.nextAttemptMs) return;
    this.requesting = this.request(this.key, name, url).finally(() => {
      this.requesting = undefined;
    });
  }

  /** Waits for a request under way (stop, tests). */
  async settled(): Promise<void> {
    await this.requesting;
  }

  private due(name: string, now: number): boolean {
    const held = this.held;
    if (held === undefined || held.name !== name) return true;
    return now >= held.notBeforeMs + (held.notAfterMs - held.notBeforeMs) * RENEW_AT_LIFETIME_SHARE;
  }

  private async request(key: KeyObject, name: string, url: string): Promise<void> {
    const { log } = this.deps;
    try {
      const reply = await this.deps.certify(await certificateRequest(key, name), url);
      const issued = checkIssuedChain(reply.CERTIFICATE, { key, name, nowMs: this.now() });
      // Stored before it is served: same key, so whichever chain nginx reads next is a valid one.
      await saveChain(this.deps.paths, issued);
      log.info({ name, entrance: url, notAfter: new Date(issued.notAfterMs).toISOString() }, 'certificate issued');
      await this.deps.serve(issued);
      // Held only once served: a chain nginx could not take is asked for again, after the backoff.
      this.held = issued;
      this.backoff.reset();
      this.nextAttemptMs = 0;
      this.lastError = undefined;
    } catch (err) {
      const waitMs = this.backoff.next();
      this.nextAttemptMs = this.now() + waitMs;
      this.lastError = messageOf(err);
      log.warn({ name, entrance: url, err: this.lastError, retryInMs: waitMs, serving: this.held?.name }, 'certificate not obtained; the current one (if any) stays served');
    }
  }
}
