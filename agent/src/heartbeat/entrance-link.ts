/**
 * One persistent WebSocket to one entrance. On open it sends an EXCHANGE at once, then one every period
 * (±10 % jitter, so a fleet restarted together does not beat in step), one at a time: the next is sent
 * after the previous reply, or the socket is cut when a reply is two periods late. A lost socket is
 * reopened with capped exponential backoff (at most 10 s).
 */
import { WebSocket } from 'ws';
import type { Logger } from '../../../shared/src/log.js';
import { decodeText, encodeMessage } from '../../../shared/src/protocol/index.js';
import type { BoxExchange, ExchangeReply } from '../../../shared/src/protocol/index.js';
import { Backoff } from '../../../shared/src/backoff.js';

export interface LinkDeps {
  url: string;
  periodMs: number;
  buildExchange(): Promise<BoxExchange>;
  /** The entrance accepted `sent`. */
  onAccepted(reply: ExchangeReply, sent: BoxExchange, url: string): void | Promise<void>;
  log: Logger;
  maxReplyBytes?: number;
  backoff?: Backoff;
}

export class EntranceLink {
  private ws: WebSocket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly backoff: Backoff;
  private awaiting: { sent: BoxExchange; deadline: NodeJS.Timeout } | undefined;
  /** An EXCHANGE being built (it reads Redis): stop() waits for it, so Redis is not closed under it. */
  private building: Promise<void> | undefined;
  /** True while the socket is open and the last EXCHANGE was accepted. */
  healthy = false;

  constructor(private readonly deps: LinkDeps) {
    this.backoff = deps.backoff ?? new Backoff();
  }

  get url(): string {
    return this.deps.url;
  }

  start(): void {
    this.connect();
  }

  /** Send an EXCHANGE now (for example after the public address changed) instead of at the next tick. */
  beatNow(): void {
    if (this.ws?.readyState === WebSocket.OPEN && this.awaiting === undefined) {
      if (this.timer) clearTimeout(this.timer);
      void this.beat();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.building;
    if (this.awaiting) clearTimeout(this.awaiting.deadline);
    const ws = this.ws;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
      ws.close(1001, 'box shutting down');
      const timer = setTimeout(() => ws.terminate(), 1_000);
      await closed;
      clearTimeout(timer);
    }
  }

  private connect(): void {
    if (this.stopped) return;
    const ws = new WebSocket(this.deps.url, { maxPayload: this.deps.maxReplyBytes ?? 1024 * 1024, handshakeTimeout: 10_000 });
    this.ws = ws;
    ws.on('open', () => {
      this.deps.log.info({ entrance: this.deps.url }, 'connected to entrance');
      void this.beat();
    });
    ws.on('message', (data, isBinary) => void this.onMessage(isBinary ? undefined : data.toString()));
    ws.on('error', (err) => this.deps.log.debug({ entrance: this.deps.url, err: err.message }, 'entrance socket error'));
    ws.on('close', (code) => {
      this.healthy = false;
      if (this.timer) clearTimeout(this.timer);
      if (this.awaiting) clearTimeout(this.awaiting.deadline);
      this.awaiting = undefined;
      if (this.stopped) return;
      const delay = this.backoff.next();
      this.deps.log.warn({ entrance: this.deps.url, code, retryInMs: delay }, 'entrance connection lost; reconnecting');
      this.timer = setTimeout(() => this.connect(), delay);
    });
  }

  private beat(): Promise<void> {
    this.building ??= this.buildAndSend().finally(() => {
      this.building = undefined;
    });
    return this.building;
  }

  private async buildAndSend(): Promise<void> {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || this.stopped) return;
    try {
      const sent = await this.deps.buildExchange();
      if (ws.readyState !== WebSocket.OPEN || this.stopped) return;
      ws.send(encodeMessage(sent));
      this.awaiting = { sent, deadline: setTimeout(() => ws.terminate(), this.deps.periodMs * 2 + 5_000) };
    } catch (err) {
      if (this.stopped) return;
      this.deps.log.error({ err }, 'could not build the EXCHANGE; trying again next period');
      this.schedule();
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    const jitter = 0.9 + Math.random() * 0.2;
    this.timer = setTimeout(() => void this.beat(), this.deps.periodMs * jitter);
  }

  private async onMessage(text: string | undefined): Promise<void> {
    const awaiting = this.awaiting;
    this.awaiting = undefined;
    if (awaiting) clearTimeout(awaiting.deadline);
    try {
      if (text === undefined) throw new Error('binary frame from the entrance');
      const decoded = decodeText(text);
      if (decoded.kind === 'EXCHANGE_REPLY' && awaiting) {
        this.healthy = true;
        this.backoff.reset();
        await this.deps.onAccepted(decoded.msg, awaiting.sent, this.deps.url);
      } else if (decoded.kind === 'ERROR') {
        this.healthy = false;
        this.deps.log.error({ entrance: this.deps.url, error: decoded.msg.ERROR, code: decoded.msg.ERROR_CODE }, 'entrance refused the EXCHANGE');
      } else {
        this.deps.log.warn({ entrance: this.deps.url, kind: decoded.kind }, 'unexpected message from the entrance');
      }
    } catch (err) {
      this.deps.log.warn({ entrance: this.deps.url, err: (err as Error).message }, 'unreadable reply from the entrance');
    }
    if (awaiting) this.schedule();
  }
}
