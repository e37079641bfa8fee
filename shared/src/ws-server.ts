/**
 * The edge where WebSocket frames become typed messages, shared by the entrance and the agent. Frames
 * on one socket are handled one at a time, in order, so replies come back in the order asked; a loop
 * with `pipelineBinary` starts each binary frame as it arrives (a box stores several files at once)
 * and still sends the replies in the order the frames came. A
 * malformed message gets the receiver's own info plus ERROR and ERROR_CODE, then the socket is closed
 * with the error's close code (as the original did); a failure of the receiver itself gets an
 * E_INTERNAL reply and the socket stays open. Nothing a peer sends can throw past this point.
 *
 * What a socket may make the process hold is counted in bytes against the process's ByteBudget
 * (byte-budget.ts): every byte read is counted from the moment it arrives until its frame is handled.
 * A socket over budget is closed with 1013 and stops being read; its queued frames are dropped.
 */
import { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import type { ByteBudget } from './byte-budget.js';
import { Close, ProtocolError, decodeText, encodeMessage, errorReply, isProtocolError } from './protocol/index.js';
import type { Decoded, Envelope } from './protocol/index.js';
import type { Logger } from './log.js';
import type { LogThrottle } from './log-throttle.js';

/**
 * How long a socket refused as over budget has to take its close frame before it is cut. It is not read
 * meanwhile (so it cannot add to what it holds), which means its answering close frame is never seen.
 */
const REFUSED_CLOSE_GRACE_MS = 1_000;

export interface PeerContext {
  ws: WebSocket;
  /** The peer's address as this server sees it. */
  remoteIp: string;
  /** The box or publisher ID this socket proved at its upgrade (signed challenge); undefined for an anonymous peer. */
  authenticatedId?: string;
}

export interface MessageLoop {
  own(): Envelope;
  /** Handle one decoded message; what it returns is sent back as the reply. */
  onMessage(decoded: Decoded, peer: PeerContext): Promise<Envelope | undefined>;
  /** Handle a binary frame; without it a binary frame is refused with close code 1003. */
  onBinary?(data: Buffer, peer: PeerContext): Promise<Envelope | undefined>;
  /** A message was answered with ERROR and this ERROR_CODE, or the socket was refused with it (for metrics). */
  onRefused?(code: string, peer: PeerContext): void;
  /**
   * Start each binary frame as soon as it arrives, while earlier ones are still being handled; replies
   * still go out in arrival order. A text frame waits until every frame before it is answered and is
   * handled alone, so a message that changes the socket's state (a PUBLISH) applies exactly to the
   * frames after it. onBinary must therefore do, before its first await, whatever has to follow
   * arrival order (a box takes its path lock there).
   */
  pipelineBinary?: boolean;
  /** The bytes and frames this socket may hold, shared with every other socket of the process. */
  budget: ByteBudget;
  log: Logger;
  /**
   * Shared by the process's sockets: a receiver's failure (its Redis failing over) hits them all at once,
   * and one line per interval says it. Without it every failure is logged.
   */
  failures?: LogThrottle;
}

interface Queued {
  data: Buffer;
  isBinary: boolean;
  /** What to give back to the budget once handled. */
  bytes: number;
}

export function attachMessageLoop(ws: WebSocket, remoteIp: string, loop: MessageLoop, authenticatedId?: string): void {
  const peer: PeerContext = authenticatedId === undefined ? { ws, remoteIp } : { ws, remoteIp, authenticatedId };
  const queue: Queued[] = [];
  let handling = false;
  const account = loop.budget.account((why) => {
    loop.log.warn({ peer: remoteIp, reason: why.reason }, 'peer over its byte budget; closing');
    loop.onRefused?.(why.code, peer);
    queue.length = 0;
    ws.close(why.close, closeReason(why.reason));
    ws.pause();
    const cut = setTimeout(() => ws.terminate(), REFUSED_CLOSE_GRACE_MS);
    cut.unref();
    ws.once('close', () => clearTimeout(cut));
  });
  // Before ws's own listener, so a chunk is counted before the frames it completes come out of ws.
  rawSocketOf(ws).prependListener('data', (chunk: Buffer) => account.arrived(chunk.length));
  ws.on('ping', (data) => account.control(data.length));
  ws.on('pong', (data) => account.control(data.length));
  ws.on('close', () => account.closed());
  ws.on('error', (err) => {
    // ws reports frames over maxPayload here and closes with 1009 itself.
    loop.log.debug({ err: err.message, peer: remoteIp }, 'socket error');
  });
  ws.on('message', (data, isBinary) => {
    // ws hands over a Buffer (binaryType 'nodebuffer'); no copy, which would double what the frame costs.
    const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    const bytes = account.framed(buf.length);
    if (account.refused) return;
    queue.push({ data: buf, isBinary, bytes });
    if (!handling) void drain();
  });

  /** Settles once every frame started so far has had its reply sent (never rejects). */
  let answered: Promise<void> = Promise.resolve();

  async function drain(): Promise<void> {
    handling = true;
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const frame = next;
      if (loop.pipelineBinary === true && frame.isBinary) {
        const outcome = outcomeOf(frame.data, true, peer, loop);
        const before = answered;
        answered = (async () => {
          const result = await outcome;
          await before;
          deliver(ws, result);
          account.handled(frame.bytes);
        })();
        continue;
      }
      await answered;
      try {
        deliver(ws, await outcomeOf(frame.data, frame.isBinary, peer, loop));
      } finally {
        account.handled(frame.bytes);
      }
    }
    handling = false;
  }
}

/** ws keeps the upgraded net.Socket as `_socket` (absent from its typings); the budget counts what arrives on it. */
function rawSocketOf(ws: WebSocket): Duplex {
  const socket: unknown = Reflect.get(ws, '_socket');
  if (!(socket instanceof Duplex)) throw new Error('ws no longer exposes its socket as _socket');
  return socket;
}

/** A close frame's reason is at most 123 bytes; ours are ASCII. */
function closeReason(reason: string): string {
  return reason.length <= 123 ? reason : `${reason.slice(0, 120)}...`;
}

/** What handling a frame comes to: a reply, or a reply after which the socket is closed. */
interface Outcome {
  reply?: Envelope;
  close?: ProtocolError;
}

/** Handles one frame; never rejects (a failure becomes the reply that says so). */
async function outcomeOf(buf: Buffer, isBinary: boolean, peer: PeerContext, loop: MessageLoop): Promise<Outcome> {
  try {
    if (isBinary) {
      if (!loop.onBinary) throw new ProtocolError('E_BINARY', 'binary frames are not accepted here', Close.UNSUPPORTED_DATA);
      return { reply: await loop.onBinary(buf, peer) };
    }
    return { reply: await loop.onMessage(decodeText(buf.toString('utf8')), peer) };
  } catch (err) {
    if (isProtocolError(err)) {
      loop.log.info({ peer: peer.remoteIp, code: err.code, reason: err.message }, 'message refused');
      loop.onRefused?.(err.code, peer);
      return { reply: errorReply(loop.own(), err), close: err };
    }
    const heldBack = loop.failures === undefined ? 0 : loop.failures.take();
    if (heldBack !== undefined) loop.log.error({ err, peer: peer.remoteIp, ...(heldBack > 0 ? { heldBack } : {}) }, 'handler failed');
    loop.onRefused?.('E_INTERNAL', peer);
    return { reply: errorReply(loop.own(), new ProtocolError('E_INTERNAL', 'the receiver failed; try again')) };
  }
}

function deliver(ws: WebSocket, outcome: Outcome): void {
  if (outcome.reply !== undefined) send(ws, outcome.reply);
  if (outcome.close !== undefined) ws.close(outcome.close.close, outcome.close.code);
}

function send(ws: WebSocket, msg: Envelope): void {
  if (ws.readyState === ws.OPEN) ws.send(encodeMessage(msg));
}

/**
 * Ping every peer each `intervalMs`; one that has not answered the previous ping is terminated (the ws
 * README's recipe for half-open TCP connections). Returns the function that stops it.
 */
export function keepAlive(wss: WebSocketServer, intervalMs: number): () => void {
  const alive = new WeakMap<WebSocket, boolean>();
  wss.on('connection', (ws) => {
    alive.set(ws, true);
    ws.on('pong', () => alive.set(ws, true));
  });
  const timer = setInterval(() => {
    for (const ws of wss.clients) {
      if (alive.get(ws) === false) {
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** Close every peer with 1001 and wait (at most `graceMs`) for them to go, then cut the rest. */
export async function closeAll(wss: WebSocketServer, reason: string, graceMs = 1_000): Promise<void> {
  const closing = [...wss.clients].map(
    (ws) =>
      new Promise<void>((resolve) => {
        if (ws.readyState === ws.CLOSED) return resolve();
        ws.once('close', () => resolve());
        ws.close(Close.GOING_AWAY, reason);
      }),
  );
  const timer = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
  await Promise.race([Promise.all(closing), timer]);
  for (const ws of wss.clients) ws.terminate();
  await new Promise<void>((resolve) => wss.close(() => resolve()));
}
