/**
 * One publisher's socket to one box: the PUBLISH handshake (its round trip is the first latency
 * sample), then files as <Dandelion> frames. The box answers frames in order, one FILE reply each, so
 * replies are matched to sends first-in first-out. A send that gets no reply within the timeout, or a
 * socket that closes, fails every send in flight; the caller tries another box.
 */
import { WebSocket } from 'ws';
import type { Logger } from '../../../shared/src/log.js';
import { decodeText, encodeMessage, messageOf } from '../../../shared/src/protocol/index.js';
import type { FileReply, PublishRequest } from '../../../shared/src/protocol/index.js';

export interface BoxStats {
  /** Smoothed round trip of the handshake and of small files, ms. */
  rttMs: number | undefined;
  /** Smoothed upload speed to this box, bytes per second. */
  bytesPerSecond: number | undefined;
  /** Sends that failed recently (decays with successes). */
  failures: number;
}

interface InFlight {
  filePath: string;
  startedAt: number;
  size: number;
  /** Bytes of its frame, counted against what the box lets one socket hold. */
  frameBytes: number;
  resolve(reply: FileReply): void;
  reject(err: Error): void;
}

const SMOOTHING = 0.3;
/**
 * Frame bytes one socket may have in flight: what a box with the default MAX_FILE_MB (50) holds for one
 * socket before it answers (one largest frame); it closes a socket that sends more with 1013.
 */
const BOX_SOCKET_BYTES = 50 * 1024 * 1024;

/**
 * The publisher masks its frames with an all-zero key: ws then skips the XOR of every payload byte here
 * and on the box (both sides test for a zero key), which in a profile of the box's ingest was its
 * largest cost after waiting (ws's JavaScript unmask, about 7 ms per 2 MB frame), and the frame is not
 * copied to be masked. Any box decodes such a frame (unmasking with zeros is a no-op). Random keys
 * (RFC 6455 §10.3) keep scripts in a browser from steering what a proxy on the way caches; the publisher
 * runs no one else's script and sends its own files.
 */
export function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

export class BoxConnection {
  private ws: WebSocket | undefined;
  private readonly inFlight: InFlight[] = [];
  private inFlightBytes = 0;
  /** Sends waiting until the frames in flight leave room for theirs. */
  private readonly waiting: Array<{ frameBytes: number; go(): void; reject(err: Error): void }> = [];
  private timer: NodeJS.Timeout | undefined;
  readonly stats: BoxStats = { rttMs: undefined, bytesPerSecond: undefined, failures: 0 };
  ready = false;
  closed = false;

  constructor(
    readonly boxId: string,
    readonly connectWs: string,
    private readonly hello: PublishRequest,
    private readonly opts: { sendTimeoutMs: number; maxFrameBytes: number; log: Logger; onClose(conn: BoxConnection): void },
  ) {}

  /** Open the socket and do the PUBLISH handshake. */
  async open(): Promise<void> {
    const started = Date.now();
    const ws = new WebSocket(this.connectWs, { handshakeTimeout: 10_000, maxPayload: 1024 * 1024, generateMask: zeroMask });
    this.ws = ws;
    ws.on('error', (err) => this.opts.log.debug({ box: this.boxId, err: err.message }, 'box socket error'));
    ws.on('close', () => this.shutdown(new Error('box connection closed')));
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error): void => reject(new Error(`cannot reach ${this.boxId} at ${this.connectWs}: ${err.message}`));
      ws.once('error', fail);
      ws.once('close', () => fail(new Error('closed during the handshake')));
      ws.once('open', () => ws.send(encodeMessage(this.hello)));
      ws.once('message', (data) => {
        ws.off('error', fail);
        try {
          const decoded = decodeText(data.toString());
          if (decoded.kind !== 'PUBLISH_REPLY' || decoded.msg.ID !== this.boxId) {
            throw new Error(decoded.kind === 'ERROR' ? decoded.msg.ERROR : `unexpected ${decoded.kind} from the box`);
          }
          resolve();
        } catch (err) {
          reject(new Error(`${this.boxId} refused PUBLISH: ${messageOf(err)}`));
        }
      });
    });
    this.stats.rttMs = Date.now() - started;
    this.ready = true;
    ws.on('message', (data) => this.onReply(data.toString()));
  }

  get pending(): number {
    return this.inFlight.length + this.waiting.length;
  }

  /** Bytes handed to the socket but not yet written to the network (for progress displays). */
  get bufferedAmount(): number {
    return this.ws?.bufferedAmount ?? 0;
  }

  /**
   * Send one file, as the <Dandelion> frame `frame` (encodeFrame) of `size` content bytes: one frame may go
   * to every box, since zero-masked sends leave it untouched. Resolves with the box's FILE reply
   * (ACCEPTED or ERROR), rejects when the box is gone or silent. A box holds at most one largest frame
   * per socket before it answers (more is closed with 1013), so frames go out only while those in
   * flight add up to no more than that; the rest wait.
   */
  send(filePath: string, frame: Buffer, size: number): Promise<FileReply> {
    const ws = this.ws;
    if (!ws || !this.ready || ws.readyState !== WebSocket.OPEN) return Promise.reject(new Error(`${this.boxId} is not connected`));
    if (frame.length > this.opts.maxFrameBytes) return Promise.reject(new Error(`${filePath} is larger than a box takes in one frame`));
    return new Promise((resolve, reject) => {
      const go = (): void => {
        this.inFlight.push({ filePath, startedAt: Date.now(), size, frameBytes: frame.length, resolve, reject });
        this.inFlightBytes += frame.length;
        ws.send(frame, { binary: true }, (err) => {
          if (err) this.shutdown(err);
        });
        this.armTimer();
      };
      if (this.waiting.length === 0 && this.fits(frame.length)) go();
      else this.waiting.push({ frameBytes: frame.length, go, reject });
    });
  }

  /**
   * PUBLISH again on the open socket (a fresh grant). The box answers it in turn with the files, so its
   * reply is told apart from theirs by kind; a refusal closes the socket, failing the sends in flight.
   */
  publishAgain(hello: PublishRequest): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(encodeMessage(hello));
  }

  close(): void {
    this.shutdown(new Error('closed by the publisher'));
  }

  private armTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    const head = this.inFlight[0];
    if (!head) return;
    const left = head.startedAt + this.opts.sendTimeoutMs - Date.now();
    this.timer = setTimeout(() => {
      this.stats.failures += 1;
      this.opts.log.warn({ box: this.boxId, file: head.filePath }, 'box did not answer in time; dropping the connection');
      this.shutdown(new Error(`${this.boxId} did not answer within ${this.opts.sendTimeoutMs} ms`));
    }, Math.max(0, left));
  }

  /** Whether a frame of this size may go now: alone, or with those in flight within BOX_SOCKET_BYTES. */
  private fits(frameBytes: number): boolean {
    return this.inFlightBytes === 0 || this.inFlightBytes + frameBytes <= BOX_SOCKET_BYTES;
  }

  private onReply(text: string): void {
    let reply: FileReply | undefined;
    let failure: Error | undefined;
    try {
      const decoded = decodeText(text);
      if (decoded.kind === 'PUBLISH_REPLY') return; // a renewed grant accepted: no file's reply
      if (decoded.kind === 'ERROR' && decoded.msg.COMMAND === 'PUBLISH') {
        this.opts.log.warn({ box: this.boxId, err: decoded.msg.ERROR, code: decoded.msg.ERROR_CODE }, 'box refused the renewed PUBLISH');
        return; // the box closes the socket after it, failing the sends in flight
      }
      if (decoded.kind !== 'FILE_REPLY') throw new Error(decoded.kind === 'ERROR' ? decoded.msg.ERROR : `unexpected ${decoded.kind}`);
      reply = decoded.msg;
    } catch (err) {
      failure = new Error(`${this.boxId}: ${messageOf(err)}`);
    }
    const head = this.inFlight.shift();
    if (head) this.inFlightBytes -= head.frameBytes;
    while (this.waiting[0] && this.fits(this.waiting[0].frameBytes)) this.waiting.shift()?.go();
    this.armTimer();
    if (!head) return;
    if (reply === undefined) {
      head.reject(failure ?? new Error(`${this.boxId}: no reply`));
      return;
    }
    const ms = Math.max(1, Date.now() - head.startedAt);
    if (reply.MESSAGE === 'ACCEPTED') {
      this.stats.failures = Math.max(0, this.stats.failures - 0.5);
      // Large files measure throughput; small ones mostly latency.
      if (head.size >= 64 * 1024) this.stats.bytesPerSecond = smooth(this.stats.bytesPerSecond, (head.size / ms) * 1000);
      else this.stats.rttMs = smooth(this.stats.rttMs, ms);
    } else {
      this.stats.failures += 1;
    }
    head.resolve(reply);
  }

  private shutdown(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.ready = false;
    if (this.timer) clearTimeout(this.timer);
    for (const f of this.inFlight.splice(0)) f.reject(err);
    for (const w of this.waiting.splice(0)) w.reject(err);
    this.inFlightBytes = 0;
    const ws = this.ws;
    if (ws && ws.readyState !== WebSocket.CLOSED) ws.terminate();
    this.opts.onClose(this);
  }
}

function smooth(prev: number | undefined, sample: number): number {
  return prev === undefined ? sample : prev * (1 - SMOOTHING) + sample * SMOOTHING;
}
