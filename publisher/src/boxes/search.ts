/**
 * SEARCH against the entrances, every PUBLISHER_PING_ENTRANCE_FREQ seconds, on one socket to one
 * entrance at a time. When that entrance fails (socket lost, no reply, an ERROR), the next known one is
 * tried; entrances named in replies' ENTRANCE_URLS are learnt. Each reply's BOX_SET goes to `onBoxes`,
 * its GRANT (what lets the publisher store files on those boxes) to `onGrant`.
 * Each upgrade proves the publisher's key (a freshly signed challenge, as a box's does); when the entrance
 * says the publisher is not enrolled it enrols with ENROLMENT_TOKEN and connects again at once.
 */
import { WebSocket } from 'ws';
import type { Logger } from '../../../shared/src/log.js';
import { decodeText, encodeMessage, messageOf } from '../../../shared/src/protocol/index.js';
import type { RankedBox, SearchRequest } from '../../../shared/src/protocol/index.js';
import { Backoff } from '../../../shared/src/backoff.js';
import { refusalBody } from '../../../shared/src/enrolment/peer-credentials.js';
import type { PeerCredentials } from '../../../shared/src/enrolment/peer-credentials.js';

const MAX_ENTRANCES = 16;
/** Wait after the entrance refused the publisher's token, or it has none: an operator has to act first. */
export const REFUSED_RETRY_MS = 60_000;

export interface SearchDeps {
  entranceUrls: readonly string[];
  periodMs: number;
  request: () => SearchRequest;
  onBoxes(boxSet: Record<string, RankedBox>, entranceUrl: string): Promise<void>;
  /** The publisher's key and token; without them upgrades are anonymous. */
  credentials?: () => Promise<PeerCredentials>;
  /** The grant a reply carried (before its boxes are taken, so the first PUBLISH to them shows it). */
  onGrant?(grant: string): void;
  log: Logger;
}

export class SearchLoop {
  private readonly urls: string[];
  private index = 0;
  private ws: WebSocket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private replyTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly backoff = new Backoff();
  /** Set by a refused upgrade: how long until the next attempt, instead of the backoff's next step. */
  private nextDelayMs: number | undefined;
  private firstReply: (() => void) | undefined;
  /** Resolves after the first successful SEARCH. */
  readonly ready: Promise<void>;

  constructor(private readonly deps: SearchDeps) {
    this.urls = [...deps.entranceUrls];
    this.ready = new Promise((resolve) => (this.firstReply = resolve));
  }

  get current(): string | undefined {
    return this.urls[this.index];
  }

  start(): void {
    this.connect();
  }

  /** SEARCH now rather than at the next period (for example after a box failed). */
  searchNow(): void {
    if (this.ws?.readyState === WebSocket.OPEN && this.replyTimer === undefined) {
      if (this.timer) clearTimeout(this.timer);
      this.send();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.replyTimer) clearTimeout(this.replyTimer);
    this.ws?.terminate();
  }

  private connect(): void {
    if (this.stopped) return;
    const url = this.urls[this.index];
    // Only at start: the list only grows afterwards, and the index wraps around it.
    if (url === undefined) throw new Error('no entrance to SEARCH: ENTRANCE_URLS is empty');
    const credentials = this.deps.credentials;
    if (!credentials) return this.open(url, undefined);
    credentials().then((c) => c.upgradeHeaders(url)).then(
      (headers) => this.open(url, headers),
      (err: unknown) => this.retry(url, `cannot sign the upgrade: ${messageOf(err)}`),
    );
  }

  private retry(url: string, reason: string): void {
    if (this.stopped) return;
    this.index = (this.index + 1) % this.urls.length; // fail over to the next known entrance
    const delay = this.nextDelayMs ?? this.backoff.next();
    this.nextDelayMs = undefined;
    this.deps.log.warn({ entrance: url, next: this.urls[this.index], retryInMs: delay, reason }, 'entrance lost; trying the next one');
    this.timer = setTimeout(() => this.connect(), delay);
  }

  private open(url: string, headers: Record<string, string> | undefined): void {
    if (this.stopped) return;
    const ws = new WebSocket(url, { maxPayload: 16 * 1024 * 1024, handshakeTimeout: 10_000, ...(headers ? { headers } : {}) });
    this.ws = ws;
    ws.on('unexpected-response', (_req, res) => {
      void refusalBody(res).then(async (body) => {
        this.nextDelayMs = await this.afterRefusal(url, res.statusCode ?? 0, body);
        ws.terminate();
      });
    });
    ws.on('open', () => this.send());
    ws.on('message', (data) => void this.onReply(data.toString(), url));
    ws.on('error', (err) => this.deps.log.debug({ entrance: url, err: err.message }, 'entrance socket error'));
    ws.on('close', (code) => {
      if (this.replyTimer) clearTimeout(this.replyTimer);
      this.replyTimer = undefined;
      if (this.timer) clearTimeout(this.timer);
      this.retry(url, `socket closed (${code})`);
    });
  }

  /**
   * The entrance refused the upgrade: ms to wait before the next attempt (0: at once, after enrolling), or
   * undefined for the usual backoff. Only "not enrolled" is answered by enrolling; a refused or missing
   * token and a revocation need an operator, so those wait a minute.
   */
  private async afterRefusal(url: string, status: number, body: Record<string, unknown>): Promise<number | undefined> {
    const code = typeof body.ERROR_CODE === 'string' ? body.ERROR_CODE : '';
    const error = typeof body.ERROR === 'string' ? body.ERROR.slice(0, 200) : `HTTP ${status}`;
    this.deps.log.warn({ entrance: url, status, code, error }, 'entrance refused the connection');
    if (code === 'E_REVOKED') return REFUSED_RETRY_MS;
    const credentials = await this.deps.credentials?.().catch(() => undefined);
    if (status !== 401 || code !== 'E_AUTH' || /nonce/i.test(error) || !credentials) return undefined;
    if (!credentials.hasToken) {
      this.deps.log.error({ entrance: url }, 'the entrance answers only publishers with an account: set ENROLMENT_TOKEN (dandelion entrance publisher create)');
      return REFUSED_RETRY_MS;
    }
    const result = await credentials.enrol(url).catch((err: unknown) => ({ ok: false as const, code: 'E_UNREACHABLE', reason: messageOf(err) }));
    if (result.ok) {
      this.deps.log.info({ entrance: url }, 'enrolled with the publisher token');
      this.index = (this.index + this.urls.length - 1) % this.urls.length; // the same entrance again, not the next
      return 0;
    }
    this.deps.log.error({ entrance: url, code: result.code, reason: result.reason }, 'publisher enrolment refused');
    return result.code === 'E_UNREACHABLE' ? undefined : REFUSED_RETRY_MS;
  }

  private send(): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    ws.send(encodeMessage(this.deps.request()));
    this.replyTimer = setTimeout(() => ws.terminate(), Math.max(5_000, this.deps.periodMs * 2));
  }

  private async onReply(text: string, url: string): Promise<void> {
    if (this.replyTimer) clearTimeout(this.replyTimer);
    this.replyTimer = undefined;
    try {
      const decoded = decodeText(text);
      if (decoded.kind === 'ERROR') throw new Error(`entrance refused SEARCH: ${decoded.msg.ERROR}`);
      if (decoded.kind !== 'SEARCH_REPLY') throw new Error(`unexpected ${decoded.kind} from the entrance`);
      this.backoff.reset();
      for (const u of decoded.msg.ENTRANCE_URLS) if (!this.urls.includes(u) && this.urls.length < MAX_ENTRANCES) this.urls.push(u);
      if (decoded.msg.GRANT !== undefined) this.deps.onGrant?.(decoded.msg.GRANT);
      await this.deps.onBoxes(decoded.msg.BOX_SET, url);
      this.firstReply?.();
    } catch (err) {
      this.deps.log.warn({ entrance: url, err: messageOf(err) }, 'SEARCH failed');
    }
    if (!this.stopped) this.timer = setTimeout(() => this.send(), this.deps.periodMs);
  }
}
