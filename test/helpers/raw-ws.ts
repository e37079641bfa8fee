/**
 * A WebSocket client written by hand, for tests that must control the bytes on the wire: it sends one
 * masked frame in small pieces with pauses (a slow upload), writes pre-masked frames many times without
 * waiting for replies (a flood that costs the test one copy of the frame), reads the server's text
 * replies and its close code, and can read an upgrade the server refused (status and body).
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { Socket } from 'node:net';

export interface RawWs {
  sendText(text: string): void;
  /** Send one binary frame, `chunkBytes` at a time, waiting `pauseMs` between pieces. */
  sendSlowly(payload: Buffer, chunkBytes: number, pauseMs: number): Promise<void>;
  nextText(): Promise<string>;
  /** Write `bytes` (say, from preMasked) `times` times, waiting for the socket to drain; stops early when it closes. */
  writeRepeatedly(bytes: Buffer, times: number): Promise<number>;
  /** The close code and reason the server sent (1006: the connection ended without one). */
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

/**
 * One whole client frame (FIN set), to be written as it is any number of times. Its masking key is
 * zero, which RFC 6455 allows and which leaves the payload as it is, so a large frame costs no masking pass.
 */
export function preMasked(opcode: 1 | 2, payload: Buffer): Buffer {
  return Buffer.concat([frameHeader(opcode, payload.length, Buffer.alloc(4)), payload]);
}

/** The first `length` bytes of a frame that announces `announced` payload bytes: a frame left unfinished. */
export function frameStart(opcode: 1 | 2, announced: Buffer, length: number): Buffer {
  return preMasked(opcode, announced).subarray(0, length);
}

function frameHeader(opcode: number, length: number, mask: Buffer): Buffer {
  let head: Buffer;
  if (length < 126) {
    head = Buffer.from([0x80 | opcode, 0x80 | length]);
  } else if (length < 65536) {
    head = Buffer.alloc(4);
    head[0] = 0x80 | opcode;
    head[1] = 0x80 | 126;
    head.writeUInt16BE(length, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = 0x80 | opcode;
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(length), 2);
  }
  return Buffer.concat([head, mask]);
}

function masked(payload: Buffer, mask: Buffer): Buffer {
  const out = Buffer.allocUnsafe(payload.length);
  for (let i = 0; i < payload.length; i++) out[i] = (payload[i] as number) ^ (mask[i & 3] as number);
  return out;
}

/** An HTTP/1.1 upgrade request to a WebSocket URL with a fresh key; `headers` add to or replace the usual ones. */
function upgradeRequest(url: string, headers: Record<string, string> = {}): http.ClientRequest {
  const u = new URL(url);
  return http.request({
    host: u.hostname,
    port: u.port,
    path: u.pathname,
    headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': randomBytes(16).toString('base64'), ...headers },
  });
}

export function connectRaw(url: string): Promise<RawWs> {
  return new Promise((resolve, reject) => {
    const req = upgradeRequest(url);
    req.on('error', reject);
    req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
    req.on('upgrade', (_res, socket: Socket, head: Buffer) => {
      let buffered = head;
      const texts: string[] = [];
      const waiters: Array<(s: string) => void> = [];
      let closeFrame: { code: number; reason: string } | undefined;
      const closed = new Promise<{ code: number; reason: string }>((resolveClosed) => socket.once('close', () => resolveClosed(closeFrame ?? { code: 1006, reason: '' })));
      socket.on('error', () => {
        /* intentional: surfaces as `closed` */
      });
      socket.on('data', (d: Buffer) => {
        buffered = Buffer.concat([buffered, d]);
        for (;;) {
          if (buffered.length < 2) return;
          let len = (buffered[1] as number) & 0x7f;
          let off = 2;
          if (len === 126) {
            if (buffered.length < 4) return;
            len = buffered.readUInt16BE(2);
            off = 4;
          } else if (len === 127) {
            if (buffered.length < 10) return;
            len = Number(buffered.readBigUInt64BE(2));
            off = 10;
          }
          if (buffered.length < off + len) return;
          const opcode = (buffered[0] as number) & 0x0f;
          const payload = buffered.subarray(off, off + len);
          buffered = buffered.subarray(off + len);
          if (opcode === 1) {
            const w = waiters.shift();
            if (w) w(payload.toString());
            else texts.push(payload.toString());
          } else if (opcode === 8) {
            closeFrame = { code: payload.length >= 2 ? payload.readUInt16BE(0) : 1005, reason: payload.subarray(2).toString() };
          }
        }
      });
      resolve({
        sendText(text) {
          const mask = randomBytes(4);
          const p = Buffer.from(text);
          socket.write(Buffer.concat([frameHeader(1, p.length, mask), masked(p, mask)]));
        },
        async sendSlowly(payload, chunkBytes, pauseMs) {
          const mask = randomBytes(4);
          const bytes = Buffer.concat([frameHeader(2, payload.length, mask), masked(payload, mask)]);
          for (let i = 0; i < bytes.length; i += chunkBytes) {
            socket.write(bytes.subarray(i, i + chunkBytes));
            await new Promise((r) => setTimeout(r, pauseMs));
          }
        },
        nextText() {
          const s = texts.shift();
          return s !== undefined ? Promise.resolve(s) : new Promise((r) => waiters.push(r));
        },
        async writeRepeatedly(bytes, times) {
          let written = 0;
          for (; written < times && !socket.destroyed; written++) {
            if (!socket.write(bytes)) {
              await new Promise<void>((r) => {
                const done = (): void => {
                  socket.off('drain', done);
                  socket.off('close', done);
                  r();
                };
                socket.once('drain', done);
                socket.once('close', done);
              });
            }
          }
          return written;
        },
        closed,
        close() {
          socket.destroy();
        },
      });
    });
    req.end();
  });
}

export interface RefusedUpgrade {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Ask for an upgrade; resolves with the server's answer when it refuses, or with the open socket (closed at once) when it accepts. */
export function tryUpgrade(url: string, headers: Record<string, string> = {}): Promise<RefusedUpgrade | { status: 101; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = upgradeRequest(url, headers);
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('upgrade', (res, socket: Socket) => {
      socket.destroy();
      resolve({ status: 101, headers: res.headers });
    });
    req.end();
  });
}
