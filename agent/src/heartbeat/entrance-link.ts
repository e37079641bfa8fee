/**
 * One persistent WebSocket to one entrance. On open it sends an EXCHANGE at once, then one every period
 * (±10 % jitter, so a fleet restarted together does not beat in step), one at a time: the next is sent
 * after the previous reply, or the socket is cut when a reply is two periods late. A lost socket is
 * reopened with capped exponential backoff (at most 10 s), unless the entrance refused the upgrade and
 * the owner asked for another delay (enrolment refused, box revoked). Each upgrade may carry headers the
 * owner builds just before it (a freshly signed challenge). A CERTIFY request (the box's CSR) may be sent
 * on the same socket beside the heartbeats; its reply (or an ERROR naming COMMAND CERTIFY) settles it.
 */
import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import type { Logger } from '../../../shared/src/log.js';
import { decodeText, encodeMessage, messageOf } from '../../../shared/src/protocol/index.js';
import { refusalBody } from '../../../shared/src/enrolment/peer-credentials.js';
import type { BoxExchange, CertifyReply, CertifyRequest, Decoded, ErrorReply, ExchangeReply } from '../../../shared/src/protocol/index.js';
import { Backoff } from '../../../shared/src/backoff.js';

export interface LinkDeps {
  url: string;
  periodMs: number;
  buildExchange(): Promise<BoxExchange>;
  /** The entrance accepted `sent`. */
  onAccepted(reply: ExchangeReply, sent: BoxExchange, url: string): void | Promise<void>;
  /** The entrance refused the EXCHANGE (it closes the socket; the link reconnects with its backoff). */
  onRefused?(reply: ErrorReply, url: string): void;
  log: Logger;
  maxReplyBytes?: number;
  backoff?: Backoff;
  /** Headers for the next upgrade (built fresh for each attempt); a throw means "entrance unreachable". */
  upgradeHeaders?(url: string): Promise<Record<string, string> | undefined>;
  /** The entrance answered the upgrade with `status` and `body`; resolves with ms to wait (0: now) or undefined for the usual backoff. */
  onUpgradeRefused?(url: string, status: number, body: Record<string, unknown>): Promise<number | undefined>;
  /** The entrance could not be reached at all (no connection, no reply to the upgrade). */
  onUnreachable?(url: string, reason: string): void;
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
  /** The box's own address on this socket: the source of its route to the entrance (LAN_IP). */
  localAddress: string | undefined;
  /** Set by a refused upgrade: how long until the next attempt, instead of the backoff's next step. */
  private nextDelayMs: number | undefined;
  /** The CERTIFY request waiting for its reply (one at a time). */
  private pings = 0;
  private certifying: { resolve(reply: CertifyReply): void; reject(err: Error): void; deadline: NodeJS.Timeout } | undefined;

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

  /** Send a CERTIFY on the open socket; rejects on an ERROR reply, a lost socket or no reply within `timeoutMs`. */
  certify(request: CertifyRequest, timeoutMs: number): Promise<CertifyReply> {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || !this.healthy) return Promise.reject(new Error(`no open link to ${this.deps.url}`));
    if (this.certifying) return Promise.reject(new Error('a CERTIFY is already waiting for its reply'));
    return new Promise<CertifyReply>((resolve, reject) => {
      const deadline = setTimeout(() => this.settleCertify(new Error(`no CERTIFY reply within ${timeoutMs} ms`)), timeoutMs);
      this.certifying = { resolve, reject, deadline };
      ws.send(encodeMessage(request));
    });
  }

  /**
   * One WebSocket ping's round trip to this entrance (ms), or undefined when the link is not open or no
   * pong came within `timeoutMs`. Every WebSocket server answers pings by itself (RFC 6455), the
   * original entrance too, so this costs the entrance no handler and the box no new port.
   */
  roundTripMs(timeoutMs: number): Promise<number | undefined> {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || !this.healthy) return Promise.resolve(undefined);
    const tag = Buffer.from(`${++this.pings}`);
    const sentAt = performance.now();
    return new Promise((resolve) => {
      const done = (rtt: number | undefined): void => {
        clearTimeout(timer);
        ws.off('pong', onPong);
        ws.off('close', onClose);
        resolve(rtt);
      };
      // A pong echoes its ping's payload: an answer to an earlier ping that timed out is not this one's.
      const onPong = (data: Buffer): void => {
        if (data.equals(tag)) done(performance.now() - sentAt);
      };
      const onClose = (): void => done(undefined);
      const timer = setTimeout(() => done(undefined), timeoutMs);
      ws.on('pong', onPong);
      ws.once('close', onClose);
      ws.ping(tag, undefined, (err) => {
        if (err) done(undefined);
      });
    });
  }

  private settleCertify(outcome: CertifyReply | Error): void {
    const pending = this.certifying;
    if (!pending) return;
    this.certifying = undefined;
    clearTimeout(pending.deadline);
    if (outcome instanceof Error) pending.reject(outcome);
    else pending.resolve(outcome);
  }

  /** A CERTIFY reply or refusal goes to the request waiting for it; true when `decoded` was one. */
  private certifyAnswered(decoded: Decoded): boolean {
    if (decoded.kind === 'CERTIFY_REPLY') {
      this.settleCertify(decoded.msg);
      return true;
    }
    if (decoded.kind === 'ERROR' && decoded.msg.COMMAND === 'CERTIFY') {
      this.settleCertify(new Error(`the entrance refused CERTIFY: ${decoded.msg.ERROR_CODE ?? 'ERROR'}: ${decoded.msg.ERROR.slice(0, 300)}`));
      return true;
    }
    return false;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.settleCertify(new Error('box shutting down'));
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
    const headersFor = this.deps.upgradeHeaders;
    if (!headersFor) return this.open(undefined);
    headersFor(this.deps.url).then(
      (headers) => this.open(headers),
      (err: unknown) => {
        if (this.stopped) return;
        const delay = this.backoff.next();
        this.deps.onUnreachable?.(this.deps.url, messageOf(err));
        this.deps.log.warn({ entrance: this.deps.url, err: messageOf(err), retryInMs: delay }, 'entrance unreachable; retrying');
        this.timer = setTimeout(() => this.connect(), delay);
      },
    );
  }

  private open(headers: Record<string, string> | undefined): void {
    if (this.stopped) return;
    const ws = new WebSocket(this.deps.url, { maxPayload: this.deps.maxReplyBytes ?? 1024 * 1024, handshakeTimeout: 10_000, ...(headers ? { headers } : {}) });
    this.ws = ws;
    let refused = false;
    ws.on('unexpected-response', (_req, res) => {
      refused = true;
      void refusalBody(res).then(async (body) => {
        this.deps.log.warn({ entrance: this.deps.url, status: res.statusCode, error: body.ERROR, code: body.ERROR_CODE }, 'entrance refused the connection');
        this.nextDelayMs = await this.deps.onUpgradeRefused?.(this.deps.url, res.statusCode ?? 0, body).catch(() => undefined);
        ws.terminate();
      });
    });
    ws.on('upgrade', (res) => {
      this.localAddress = unmappedIpv4(res.socket.localAddress);
    });
    ws.on('open', () => {
      this.deps.log.info({ entrance: this.deps.url }, 'connected to entrance');
      void this.beat();
    });
    ws.on('message', (data, isBinary) => void this.onMessage(isBinary ? undefined : data.toString()));
    let opened = false;
    ws.on('open', () => {
      opened = true;
    });
    ws.on('error', (err) => {
      this.deps.log.debug({ entrance: this.deps.url, err: err.message }, 'entrance socket error');
      if (!opened && !refused) this.deps.onUnreachable?.(this.deps.url, err.message);
    });
    ws.on('close', (code) => {
      this.healthy = false;
      this.settleCertify(new Error(`the link to ${this.deps.url} closed (${code})`));
      if (this.timer) clearTimeout(this.timer);
      if (this.awaiting) clearTimeout(this.awaiting.deadline);
      this.awaiting = undefined;
      if (this.stopped) return;
      const delay = this.nextDelayMs ?? this.backoff.next();
      this.nextDelayMs = undefined;
      this.deps.log.warn({ entrance: this.deps.url, code, retryInMs: delay }, 'entrance connection lost; reconnecting');
      this.timer = setTimeout(() => this.connect(), delay);
    });
  }

  /**
   * An entrance that does not answer an EXCHANGE within two periods is gone: the socket is cut and built
   * again. Except while a CERTIFY is open: the entrance answers a socket's messages in order and runs the
   * whole ACME order before the EXCHANGE behind it, so the wait is the CERTIFY's (its own deadline).
   */
  private replyDeadline(ws: WebSocket): NodeJS.Timeout {
    return setTimeout(() => {
      if (this.certifying !== undefined && this.awaiting !== undefined) this.awaiting.deadline = this.replyDeadline(ws);
      else ws.terminate();
    }, this.deps.periodMs * 2 + 5_000);
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
      this.awaiting = { sent, deadline: this.replyDeadline(ws) };
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
    let decoded: Decoded | Error;
    try {
      if (text === undefined) throw new Error('binary frame from the entrance');
      decoded = decodeText(text);
    } catch (err) {
      decoded = new Error(messageOf(err));
    }
    // Not the heartbeat's answer: the EXCHANGE waiting for its reply keeps waiting.
    if (!(decoded instanceof Error) && this.certifyAnswered(decoded)) return;
    const awaiting = this.awaiting;
    this.awaiting = undefined;
    if (awaiting) clearTimeout(awaiting.deadline);
    try {
      if (decoded instanceof Error) throw decoded;
      if (decoded.kind === 'EXCHANGE_REPLY' && awaiting) {
        this.healthy = true;
        this.backoff.reset();
        await this.deps.onAccepted(decoded.msg, awaiting.sent, this.deps.url);
      } else if (decoded.kind === 'ERROR') {
        this.healthy = false;
        this.deps.log.error({ entrance: this.deps.url, error: decoded.msg.ERROR, code: decoded.msg.ERROR_CODE }, 'entrance refused the EXCHANGE');
        this.deps.onRefused?.(decoded.msg, this.deps.url);
      } else {
        this.deps.log.warn({ entrance: this.deps.url, kind: decoded.kind }, 'unexpected message from the entrance');
      }
    } catch (err) {
      this.deps.log.warn({ entrance: this.deps.url, err: messageOf(err) }, 'unreadable reply from the entrance');
    }
    if (awaiting) this.schedule();
  }
}

/** "::ffff:192.168.1.23" (an IPv4 peer on a dual-stack socket) → "192.168.1.23". */
function unmappedIpv4(address: string | undefined): string | undefined {
  return address?.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
