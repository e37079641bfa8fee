/**
 * The soak's simulated boxes, in a child process of their own: the main process's sampling never delays
 * a heartbeat, and each process has its own open-file limit (one file per socket).
 * Each box does what a real agent does on the wire: a challenge from its entrance, a WebSocket upgrade
 * signed with its key, then an EXCHANGE every period (phases spread evenly), at most one in flight.
 * A heartbeat is dropped when its ACCEPTED has not come one period after it was due (a socket that closed
 * or never opened drops every heartbeat it misses); the box then reconnects after a short backoff.
 * Latency runs from when the heartbeat was due, so a late send counts against the entrance.
 */
import http from 'node:http';
import { createPrivateKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { WebSocket } from 'ws';
import type { Histogram } from 'hdr-histogram-js';
import { AUTH_HEADERS, connectPayload, idHeaderFor, signPayload } from '../../../shared/src/enrolment/codec.js';
import { boxExchange } from '../../../test/helpers/messages.js';
import { encodeHistogram, latencyHistogram } from '../common.js';
import { challenge, openAll } from '../entrance-process.js';

export interface BoxesRequest {
  /** The entrances' socket URLs; box i uses urls[i % urls.length]. */
  urls: string[];
  ids: string[];
  /** Where each box's index within the whole soak starts (box i of this worker is box offset + i). */
  offset: number;
  privateKeyPem: string;
  periodMs: number;
  /** Source addresses for the sockets, round robin: one address has ~28,000 ephemeral ports. */
  localAddresses: string[];
  openAtOnce: number;
}

/** From the parent: the boxes to run (first), start heartbeats, report (and reset the window), stop. */
export type BoxesCommand = { type: 'boxes'; request: BoxesRequest } | { type: 'heartbeat' } | { type: 'report' } | { type: 'stop' };

/** Set in the environment of the child processes that run boxes. */
export const BOXES_CHILD_ENV = 'DANDELION_SOAK_BOXES';

export interface WindowReport {
  type: 'report';
  connected: number;
  sent: number;
  accepted: number;
  dropped: number;
  /** Replies that were not ACCEPTED (an ERROR). */
  refused: number;
  reconnects: number;
  /** Latency in µs of this window's ACCEPTED replies (hdr, compressed base64). */
  histogram: string;
}
/** `retried`: connection attempts that failed and were tried again; `failed`: boxes whose every try failed. */
export interface ConnectedReport { type: 'connected'; connected: number; failed: number; retried: number; firstError?: string; ms: number }
/** How many times a box tries to connect before it counts as failed. */
const CONNECT_TRIES = 3;

const RECONNECT_MIN_MS = 1000;
const RECONNECT_SPREAD_MS = 4000;

interface Box {
  id: string;
  url: string;
  localAddress: string;
  message: string;
  ws?: WebSocket;
  open: boolean;
  /** When the heartbeat in flight was due (performance.now()), or undefined. */
  dueAt?: number;
  nextDue: number;
  timer?: NodeJS.Timeout;
}

class Boxes {
  private readonly key: KeyObject;
  private readonly agents = new Map<string, http.Agent>();
  private readonly boxes: Box[];
  private histogram: Histogram = latencyHistogram();
  private counts = { sent: 0, accepted: 0, dropped: 0, refused: 0, reconnects: 0 };
  private beating = false;
  private stopped = false;

  constructor(private readonly req: BoxesRequest) {
    this.key = createPrivateKey(req.privateKeyPem);
    this.boxes = req.ids.map((id, i) => {
      const n = req.offset + i;
      return { id, url: req.urls[n % req.urls.length] ?? '', localAddress: req.localAddresses[n % req.localAddresses.length] ?? '127.0.0.1', message: JSON.stringify(boxExchange(id, { 'BANDWIDTH-IDLE-UP': 20 + (n % 80), 'DISK-AVAIL': 5 + (n % 50) })), open: false, nextDue: 0 };
    });
  }

  async connectAll(): Promise<ConnectedReport> {
    const started = performance.now();
    let failed = 0;
    let retried = 0;
    let firstError: string | undefined;
    await openAll(this.boxes.length, async (i) => {
      const box = this.boxes[i];
      if (!box) return;
      // As an agent does: a refused or hung-up connection is tried again after a backoff (1 s, 2 s), and
      // a box counts as failed only when every try failed (54,000 sockets opened at once lose a few).
      for (let attempt = 0; ; attempt++) {
        try {
          await this.connect(box);
          return;
        } catch (err) {
          if (attempt + 1 >= CONNECT_TRIES) {
            failed++;
            firstError ??= err instanceof Error ? err.message : String(err);
            return;
          }
          retried++;
          await new Promise((r) => setTimeout(r, 1000 * 2 ** attempt));
        }
      }
    }, this.req.openAtOnce);
    return { type: 'connected', connected: this.boxes.filter((b) => b.open).length, failed, retried, ...(firstError ? { firstError } : {}), ms: performance.now() - started };
  }

  startHeartbeats(): void {
    this.beating = true;
    const now = performance.now();
    this.boxes.forEach((box, i) => {
      box.nextDue = now + (this.req.periodMs * i) / this.boxes.length;
      this.schedule(box);
    });
  }

  report(): WindowReport {
    const out: WindowReport = { type: 'report', connected: this.boxes.filter((b) => b.open).length, ...this.counts, histogram: encodeHistogram(this.histogram) };
    this.histogram = latencyHistogram();
    this.counts = { sent: 0, accepted: 0, dropped: 0, refused: 0, reconnects: 0 };
    return out;
  }

  stop(): void {
    this.stopped = true;
    this.beating = false;
    for (const box of this.boxes) {
      clearTimeout(box.timer);
      box.ws?.terminate();
    }
    for (const agent of this.agents.values()) agent.destroy();
  }

  private agentFor(url: string): http.Agent {
    let agent = this.agents.get(url);
    if (!agent) {
      agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
      this.agents.set(url, agent);
    }
    return agent;
  }

  private async connect(box: Box): Promise<void> {
    const nonce = await challenge(box.url, this.agentFor(box.url));
    const headers = { [idHeaderFor(box.id)]: box.id, [AUTH_HEADERS.nonce]: nonce, [AUTH_HEADERS.signature]: signPayload(this.key, connectPayload(box.id, nonce)) };
    await new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(box.url, { headers, perMessageDeflate: false, localAddress: box.localAddress });
      box.ws = ws;
      ws.once('open', () => {
        box.open = true;
        resolve();
      });
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused with ${res.statusCode ?? 0}`)));
      ws.on('error', (err) => reject(err));
      ws.on('message', (data) => this.onReply(box, String(data)));
      ws.once('close', () => this.onClose(box, ws));
    });
  }

  private onReply(box: Box, text: string): void {
    if (box.dueAt === undefined) return;
    if (text.includes('"MESSAGE":"ACCEPTED"')) {
      this.counts.accepted++;
      this.histogram.recordValue(Math.max(1, Math.round((performance.now() - box.dueAt) * 1000)));
    } else {
      this.counts.refused++;
    }
    box.dueAt = undefined;
  }

  private onClose(box: Box, ws: WebSocket): void {
    if (box.ws !== ws) return;
    const wasOpen = box.open;
    box.open = false;
    box.ws = undefined;
    if (this.stopped) return;
    // A socket that never opened while all connect is connectAll's to try again, not this reconnect's.
    if (!wasOpen && !this.beating) return;
    if (box.dueAt !== undefined) {
      this.counts.dropped++;
      box.dueAt = undefined;
    }
    setTimeout(() => {
      if (this.stopped) return;
      this.counts.reconnects++;
      this.connect(box).catch(() => this.onClose(box, box.ws ?? ws));
    }, RECONNECT_MIN_MS + Math.random() * RECONNECT_SPREAD_MS).unref();
  }

  private schedule(box: Box): void {
    if (!this.beating) return;
    box.timer = setTimeout(() => this.beat(box), Math.max(0, box.nextDue - performance.now()));
  }

  private beat(box: Box): void {
    if (box.dueAt !== undefined) this.counts.dropped++; // a whole period without its reply
    box.dueAt = undefined;
    const due = box.nextDue;
    box.nextDue += this.req.periodMs;
    this.counts.sent++;
    if (box.open && box.ws) {
      box.dueAt = due;
      box.ws.send(box.message);
    } else {
      this.counts.dropped++;
    }
    this.schedule(box);
  }
}

/** Runs the boxes the parent sends, answering its commands over the IPC channel. */
function serveParent(send: (m: WindowReport | ConnectedReport) => void): void {
  let boxes: Boxes | undefined;
  process.on('message', (cmd: BoxesCommand) => {
    if (cmd.type === 'boxes') {
      boxes = new Boxes(cmd.request);
      void boxes.connectAll().then(send);
    } else if (cmd.type === 'heartbeat') boxes?.startHeartbeats();
    else if (cmd.type === 'report' && boxes) send(boxes.report());
    else if (cmd.type === 'stop') {
      boxes?.stop();
      process.disconnect();
    }
  });
}

if (process.env[BOXES_CHILD_ENV] === '1' && process.send) serveParent((m) => process.send?.(m));
