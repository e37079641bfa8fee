/**
 * A WebSocket peer for tests that reads replies in order: `next()` resolves with the next message
 * (parsed JSON), `closed` with the close code and reason the server sent.
 */
import { WebSocket } from 'ws';

export interface TestPeer {
  ws: WebSocket;
  send(msg: unknown): void;
  sendRaw(data: string | Buffer, binary?: boolean): void;
  next(): Promise<Record<string, unknown>>;
  /** Send and wait for the reply. */
  ask(msg: unknown): Promise<Record<string, unknown>>;
  closed: Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
}

/** `localAddress`: the loopback address to connect from (127.0.0.2 …), so the server sees another peer address. */
export async function connectPeer(
  url: string,
  opts: { maxPayload?: number; headers?: Record<string, string>; localAddress?: string; generateMask?: (mask: Buffer) => void } = {},
): Promise<TestPeer> {
  const ws = new WebSocket(url, {
    maxPayload: opts.maxPayload ?? 64 * 1024 * 1024,
    ...(opts.generateMask ? { generateMask: opts.generateMask } : {}),
    ...(opts.headers ? { headers: opts.headers } : {}),
    ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
  });
  const queue: Array<Record<string, unknown>> = [];
  const waiters: Array<(m: Record<string, unknown>) => void> = [];
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString()) as Record<string, unknown>;
    const w = waiters.shift();
    if (w) w(msg);
    else queue.push(msg);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  ws.on('error', () => {
    /* intentional: surfaces as `closed` */
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const peer: TestPeer = {
    ws,
    send: (msg) => ws.send(JSON.stringify(msg)),
    sendRaw: (data, binary = false) => ws.send(data, { binary }),
    next: () => {
      const m = queue.shift();
      if (m) return Promise.resolve(m);
      return new Promise((resolve, reject) => {
        waiters.push(resolve);
        void closed.then(({ code }) => reject(new Error(`socket closed (${code}) before a reply`)));
      });
    },
    ask: (msg) => {
      peer.send(msg);
      return peer.next();
    },
    closed,
    close: async () => {
      if (ws.readyState !== ws.CLOSED) {
        ws.close();
        await closed;
      }
    },
  };
  return peer;
}
