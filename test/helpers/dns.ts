/**
 * A DNS client for tests of the entrance's DNS server: one query over UDP or TCP, decoded with dns-packet,
 * plus raw sends for hostile packets (the reply bytes, or nothing within a timeout).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { DecodedPacket, RecordType } from 'dns-packet';

const REPLY_TIMEOUT_MS = 3000;

/** The encoded query for one question (IN class unless `klass` says otherwise). */
export function queryBytes(name: string, type: RecordType, opts: { id?: number; klass?: 'IN' | 'CH' } = {}): Buffer {
  return dnsPacket.encode({ type: 'query', id: opts.id ?? 4242, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: opts.klass ?? 'IN' }] });
}

/** Send `bytes` in one datagram; the reply, or undefined when none came within the timeout. */
export function udpRaw(port: number, bytes: Buffer, timeoutMs = REPLY_TIMEOUT_MS): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4');
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    function finish(reply: Buffer | undefined): void {
      clearTimeout(timer);
      socket.close();
      resolve(reply);
    }
    socket.once('message', (reply) => finish(reply));
    socket.send(bytes, port, '127.0.0.1');
  });
}

export async function udpQuery(port: number, name: string, type: RecordType, opts: { klass?: 'IN' | 'CH' } = {}): Promise<DecodedPacket> {
  const reply = await udpRaw(port, queryBytes(name, type, opts));
  if (reply === undefined) throw new Error(`no UDP reply for ${name} ${type}`);
  return dnsPacket.decode(reply);
}

export interface TcpDns {
  /** Write raw bytes (a length prefix is NOT added). */
  write(bytes: Buffer): void;
  /** Write one message with its 2-byte length prefix. */
  send(message: Buffer): void;
  /** The next framed reply, or undefined when the connection ends first. */
  next(): Promise<Buffer | undefined>;
  /** Resolves when the server closed the connection. */
  closed: Promise<void>;
  close(): void;
}

export function tcpConnect(port: number): Promise<TcpDns> {
  return new Promise((resolve, reject) => {
    const conn = net.connect(port, '127.0.0.1');
    let buffered = Buffer.alloc(0);
    const replies: Buffer[] = [];
    const waiters: Array<(b: Buffer | undefined) => void> = [];
    let ended = false;
    const closed = new Promise<void>((r) => conn.once('close', () => {
      ended = true;
      for (const w of waiters.splice(0)) w(undefined);
      r();
    }));
    conn.on('error', () => {
      /* intentional: surfaces as `closed` */
    });
    conn.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const reply = buffered.subarray(2, 2 + buffered.readUInt16BE(0));
        buffered = buffered.subarray(2 + reply.length);
        const w = waiters.shift();
        if (w) w(reply);
        else replies.push(reply);
      }
    });
    conn.once('connect', () =>
      resolve({
        write: (bytes) => conn.write(bytes),
        send(message) {
          const prefix = Buffer.alloc(2);
          prefix.writeUInt16BE(message.length, 0);
          conn.write(Buffer.concat([prefix, message]));
        },
        next: () => {
          const r = replies.shift();
          if (r !== undefined || ended) return Promise.resolve(r);
          return new Promise((res) => waiters.push(res));
        },
        closed,
        close: () => conn.destroy(),
      }),
    );
    conn.once('error', reject);
  });
}
