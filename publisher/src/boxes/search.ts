/**
 * SEARCH against the entrances, every PUBLISHER_PING_ENTRANCE_FREQ seconds, on one socket to one
 * entrance at a time. When that entrance fails (socket lost, no reply, an ERROR), the next known one is
 * tried; entrances named in replies' ENTRANCE_URLS are learnt. Each reply's BOX_SET goes to `onBoxes`,
 * its GRANT (what lets the publisher store files on those boxes) to `onGrant`.
 */
import { WebSocket } from 'ws';
import type { Logger } from '../../../shared/src/log.js';
import { decodeText, encodeMessage, messageOf } from '../../../shared/src/protocol/index.js';
import type { RankedBox, SearchRequest } from '../../../shared/src/protocol/index.js';
import { Backoff } from '../../../shared/src/backoff.js';

const MAX_ENTRANCES = 16;

export interface SearchDeps {
  entranceUrls: readonly string[];
  periodMs: number;
  request: () => SearchRequest;
  onBoxes(boxSet: Record<string, RankedBox>, entranceUrl: string): Promise<void>;
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
    const ws = new WebSocket(url, { maxPayload: 16 * 1024 * 1024, handshakeTimeout: 10_000 });
    this.ws = ws;
    ws.on('open', () => this.send());
    ws.on('message', (data) => void this.onReply(data.toString(), url));
    ws.on('error', (err) => this.deps.log.debug({ entrance: url, err: err.message }, 'entrance socket error'));
    ws.on('close', () => {
      if (this.replyTimer) clearTimeout(this.replyTimer);
      this.replyTimer = undefined;
      if (this.timer) clearTimeout(this.timer);
      if (this.stopped) return;
      this.index = (this.index + 1) % this.urls.length; // fail over to the next known entrance
      const delay = this.backoff.next();
      this.deps.log.warn({ entrance: url, next: this.urls[this.index], retryInMs: delay }, 'entrance lost; trying the next one');
      this.timer = setTimeout(() => this.connect(), delay);
    });
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
