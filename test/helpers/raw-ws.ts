/**
 * A WebSocket client written by hand, for tests that must control the bytes on the wire: it sends one
 * masked frame in small pieces with pauses (a slow upload), and reads the server's text replies.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { Socket } from 'node:net';

export interface RawWs {
  sendText(text: string): void;
  /** Send one binary frame, `chunkBytes` at a time, waiting `pauseMs` between pieces. */
  sendSlowly(payload: Buffer, chunkBytes: number, pauseMs: number): Promise<void>;
  nextText(): Promise<string>;
  close(): void;
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

export function connectRaw(url: string): Promise<RawWs> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: u.hostname,
      port: u.port,
      path: u.pathname,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': randomBytes(16).toString('base64') },
    });
    req.on('error', reject);
    req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
    req.on('upgrade', (_res, socket: Socket, head: Buffer) => {
      let buffered = head;
      const texts: string[] = [];
      const waiters: Array<(s: string) => void> = [];
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
        close() {
          socket.destroy();
        },
      });
    });
    req.end();
  });
}
