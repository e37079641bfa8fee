/**
 * A NAT-PMP client (RFC 6886) for TCP mappings: one UDP socket connected to the router's port 5351,
 * one request at a time, resent after 250, 500 and 1000 ms (a router answers in about 30 ms; one that
 * says nothing in 1.75 s does not speak NAT-PMP). The router's epoch in every answer tells when it has
 * restarted and lost its mappings (RFC 6886 §3.6). The npm package's client keeps its queue stuck after
 * a timeout and drops the granted lifetime, so the few bytes are written here.
 */
import dgram from 'node:dgram';
import type { GrantedMapping, MappingRequest, RouterClient } from './router-client.js';
import { RouterRefusal, RouterSilent } from './router-client.js';

export const NAT_PMP_PORT = 5351;
const OP_EXTERNAL_ADDRESS = 0;
const OP_MAP_TCP = 2;
const RESEND_AFTER_MS = [250, 500, 1000];
/** RFC 6886's recommended lifetime, for a check on a mapping whose lease is unknown. */
const DEFAULT_LEASE_SECONDS = 7200;

const RESULTS: Readonly<Record<number, string>> = {
  1: 'unsupported version',
  2: 'not authorized or refused (NAT-PMP turned off on the router?)',
  3: 'network failure (the router has no external address)',
  4: 'out of resources (no ports left)',
  5: 'unsupported opcode',
};

interface Answer {
  epoch: number;
  body: Buffer;
}

export interface NatPmpOptions {
  gateway: string;
  port?: number;
  now?: () => number;
}

export class NatPmpClient implements RouterClient {
  readonly method = 'nat-pmp' as const;
  private readonly socket = dgram.createSocket('udp4');
  private readonly connected: Promise<void>;
  private queue: Promise<unknown> = Promise.resolve();
  private lastEpoch: { epoch: number; at: number } | undefined;
  private restarted = false;
  private readonly now: () => number;

  constructor(o: NatPmpOptions) {
    this.now = o.now ?? Date.now;
    // Errors (an ICMP "port unreachable" on the connected socket) are taken by the pending request.
    this.socket.on('error', () => undefined);
    this.connected = new Promise((resolve) => this.socket.connect(o.port ?? NAT_PMP_PORT, o.gateway, () => resolve()));
  }

  async externalIp(): Promise<string> {
    const { body } = await this.request(Buffer.from([0, OP_EXTERNAL_ADDRESS]), 12);
    return [body[8], body[9], body[10], body[11]].join('.');
  }

  async map(r: MappingRequest): Promise<GrantedMapping> {
    const { body } = await this.request(mapRequest(r.internalPort, r.externalPort, r.leaseSeconds), 16);
    return { externalPort: body.readUInt16BE(10), leaseSeconds: body.readUInt32BE(12) };
  }

  /** Lifetime 0 removes the mapping; the external port must then be 0 (RFC 6886 §3.4). */
  async unmap(m: { internalPort: number }): Promise<void> {
    await this.request(mapRequest(m.internalPort, 0, 0), 16);
  }

  /**
   * A NAT-PMP router cannot list its mappings, and its epoch may be the machine's uptime (which a restart
   * of the mapping daemon alone does not reset), so the mapping is asked for again: held when the router
   * gives the same external port and its epoch did not go back.
   */
  async holds(m: { internalHost: string; internalPort: number; externalPort: number; leaseSeconds: number }): Promise<boolean> {
    const granted = await this.map({ ...m, leaseSeconds: m.leaseSeconds || DEFAULT_LEASE_SECONDS });
    const lost = this.restarted;
    this.restarted = false;
    return !lost && granted.externalPort === m.externalPort;
  }

  close(): void {
    this.socket.close();
  }

  private request(packet: Buffer, size: number): Promise<Answer> {
    const next = this.queue.then(() => this.exchange(packet, size));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async exchange(packet: Buffer, size: number): Promise<Answer> {
    await this.connected;
    const op = packet[1] ?? 0;
    return new Promise<Answer>((resolve, reject) => {
      let attempt = 0;
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        clearTimeout(timer);
        this.socket.off('message', onMessage);
        this.socket.off('error', onError);
      };
      const onMessage = (msg: Buffer): void => {
        if (msg.length < 8 || msg[0] !== 0 || msg[1] !== 128 + op) return; // not the answer to this request
        done();
        const result = msg.readUInt16BE(2);
        this.noteEpoch(msg.readUInt32BE(4));
        if (result !== 0) return reject(new RouterRefusal(`NAT-PMP result ${result}: ${RESULTS[result] ?? 'unknown'}`));
        if (msg.length < size) return reject(new RouterRefusal(`NAT-PMP answer of ${msg.length} bytes, expected ${size}`));
        resolve({ epoch: msg.readUInt32BE(4), body: msg });
      };
      const onError = (err: Error): void => {
        done();
        reject(new RouterSilent(`no NAT-PMP: ${err.message}`));
      };
      const send = (): void => {
        const wait = RESEND_AFTER_MS[attempt++];
        if (wait === undefined) {
          done();
          return reject(new RouterSilent('no NAT-PMP answer'));
        }
        this.socket.send(packet);
        timer = setTimeout(send, wait);
      };
      this.socket.on('message', onMessage);
      this.socket.on('error', onError);
      send();
    });
  }

  /** RFC 6886 §3.6: the epoch runs at the router's seconds; one behind the local clock by more than 1/8 plus slack is a restart. */
  private noteEpoch(epoch: number): void {
    const at = this.now();
    const last = this.lastEpoch;
    if (last !== undefined) {
      const expected = last.epoch + Math.floor(((at - last.at) / 1000) * 7 / 8);
      if (epoch + 2 < expected) this.restarted = true;
    }
    this.lastEpoch = { epoch, at };
  }
}

function mapRequest(internalPort: number, externalPort: number, leaseSeconds: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(0, 0);
  b.writeUInt8(OP_MAP_TCP, 1);
  b.writeUInt16BE(internalPort, 4);
  b.writeUInt16BE(externalPort, 6);
  b.writeUInt32BE(leaseSeconds, 8);
  return b;
}
