/**
 * The entrances this box keeps a heartbeat link to: those in ENTRANCE_URLS, plus those the entrances
 * name in their replies, up to MAX_ENTRANCES (a bad reply cannot open unbounded sockets). Also what a
 * refused upgrade means for when to try again: enrol when the entrance does not know the box, else say
 * why on the status page and wait (longer when the box is revoked).
 */
import type { Logger } from '../../../shared/src/log.js';
import { messageOf } from '../../../shared/src/protocol/index.js';
import type { BoxExchange, CertifyReply, CertifyRequest, ErrorReply, ExchangeReply } from '../../../shared/src/protocol/index.js';
import type { PeerCredentials, EnrolResult } from '../../../shared/src/enrolment/peer-credentials.js';
import type { BoxStatus } from '../status/box-status.js';
import { EntranceLink } from './entrance-link.js';

/** Entrances learnt from replies are kept up to this many, so a bad reply cannot open unbounded sockets. */
export const MAX_ENTRANCES = 16;
/** Wait after the entrance refused this box's token (an operator has to act first). */
export const TOKEN_REFUSED_RETRY_MS = 60_000;
/** Wait after the entrance said this box is revoked. */
export const REVOKED_RETRY_MS = 5 * 60_000;

export interface EntranceLinksDeps {
  periodMs: number;
  buildExchange(): Promise<BoxExchange>;
  /** An entrance accepted `sent`; the entrances its reply names are added before this is called. */
  onAccepted(reply: ExchangeReply, sent: BoxExchange, url: string): Promise<void>;
  /** An entrance refused an EXCHANGE (E_ADDRESS tells the address to announce). */
  onRefused?(reply: ErrorReply, url: string): void;
  /** The box's key and token, once loaded at start. */
  credentials(): PeerCredentials | undefined;
  boxStatus: BoxStatus;
  log: Logger;
}

export class EntranceLinks {
  private readonly links = new Map<string, EntranceLink>();

  constructor(private readonly deps: EntranceLinksDeps) {}

  /** Opens a link to `url` unless there is one already or MAX_ENTRANCES are open. */
  add(url: string): void {
    if (this.links.has(url) || this.links.size >= MAX_ENTRANCES) return;
    const { deps } = this;
    const link = new EntranceLink({
      url, periodMs: deps.periodMs, buildExchange: deps.buildExchange, log: deps.log,
      onAccepted: async (reply, sent, from) => {
        for (const learnt of reply.ENTRANCE_URLS) this.add(learnt);
        await deps.onAccepted(reply, sent, from);
      },
      onRefused: (reply, from) => deps.onRefused?.(reply, from),
      upgradeHeaders: (u) => deps.credentials()?.upgradeHeaders(u) ?? Promise.resolve(undefined),
      onUpgradeRefused: (u, status, body) => retryAfterRefusal({ url: u, status, body }, deps),
      onUnreachable: (u, reason) => {
        if (this.healthyCount() === 0) deps.boxStatus.unreachable(`cannot reach the entrance ${u}: ${reason}`);
      },
    });
    this.links.set(url, link);
    link.start();
  }

  get size(): number {
    return this.links.size;
  }

  healthyCount(): number {
    return [...this.links.values()].filter((l) => l.healthy).length;
  }

  /** The box's address on its first healthy entrance socket (else any open one): its LAN_IP. */
  localAddress(): string | undefined {
    const all = [...this.links.values()];
    return (all.find((l) => l.healthy && l.localAddress) ?? all.find((l) => l.localAddress))?.localAddress;
  }

  /** One ping's round trip (ms) on the first healthy link, or undefined when none answers in `timeoutMs`. */
  roundTripMs(timeoutMs: number): Promise<number | undefined> {
    const link = [...this.links.values()].find((l) => l.healthy);
    return link ? link.roundTripMs(timeoutMs) : Promise.resolve(undefined);
  }

  /** The entrance for a capacity test: the first healthy one, else the first. */
  pick(): string | undefined {
    const all = [...this.links.values()];
    return (all.find((l) => l.healthy) ?? all[0])?.url;
  }

  /** Send a CERTIFY on the link to `url` (the entrance that named the box), else on the first healthy link. */
  certify(request: CertifyRequest, url: string, timeoutMs: number): Promise<CertifyReply> {
    const named = this.links.get(url);
    const link = named?.healthy ? named : [...this.links.values()].find((l) => l.healthy);
    if (!link) return Promise.reject(new Error('no entrance link to send CERTIFY on'));
    return link.certify(request, timeoutMs);
  }

  /** Send an EXCHANGE on every link now (the box's address changed). */
  beatAll(): void {
    for (const link of this.links.values()) link.beatNow();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.links.values()].map((l) => l.stop()));
  }
}

export interface UpgradeRefusal {
  url: string;
  status: number;
  body: Record<string, unknown>;
}

/**
 * The entrance refused this box's upgrade: resolves with how long to wait before the next attempt (0: now,
 * after a successful enrolment), or undefined for the link's usual backoff.
 */
export async function retryAfterRefusal(
  { url, status, body }: UpgradeRefusal,
  deps: Pick<EntranceLinksDeps, 'credentials' | 'boxStatus' | 'log'>,
): Promise<number | undefined> {
  const code = typeof body.ERROR_CODE === 'string' ? body.ERROR_CODE : '';
  const error = typeof body.ERROR === 'string' ? body.ERROR.slice(0, 200) : `HTTP ${status}`;
  if (code === 'E_REVOKED') {
    deps.boxStatus.set('revoked', `${url}: ${error}`);
    return REVOKED_RETRY_MS;
  }
  const credentials = deps.credentials();
  if (status !== 401 || code !== 'E_AUTH' || /nonce/i.test(error) || !credentials) return undefined;
  if (!credentials.hasToken) {
    deps.boxStatus.set('not-enrolled', `${url} requires enrolment and the config has no ENROLMENT_TOKEN`);
    return TOKEN_REFUSED_RETRY_MS;
  }
  const unreachable = (err: unknown): EnrolResult => ({ ok: false, code: 'E_UNREACHABLE', reason: messageOf(err) });
  const result = await credentials.enrol(url).catch(unreachable);
  if (result.ok) {
    deps.log.info({ entrance: url }, 'enrolled with the fleet token');
    return 0;
  }
  deps.log.warn({ entrance: url, code: result.code, reason: result.reason }, 'enrolment refused');
  if (result.code === 'E_REVOKED') {
    deps.boxStatus.set('revoked', `${url}: ${result.reason}`);
    return REVOKED_RETRY_MS;
  }
  if (result.code === 'E_UNREACHABLE') return undefined;
  if (result.code === 'E_PENDING') {
    // A re-flashed card: the ID is enrolled with the old card's key; an operator approves this one, then the next try enrols.
    deps.boxStatus.set('awaiting-approval', `${url}: waiting for an operator to approve this box's new key ${credentials.fingerprint} (dandelion entrance box approve): ${result.reason}`);
    return TOKEN_REFUSED_RETRY_MS;
  }
  deps.boxStatus.set('token-refused', `${url}: ${result.reason}`);
  return TOKEN_REFUSED_RETRY_MS;
}
