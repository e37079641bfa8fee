/**
 * The entrance's DNS server for BOX_DOMAIN, on UDP and TCP at one port (resolvers retry over TCP when
 * a UDP answer was truncated, and some ask over TCP first). Every packet is answered by answer.ts;
 * this file bounds what strangers can make it hold: queries answered at once, TCP connections, bytes
 * and idle time per connection.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import type { Logger } from '../../../shared/src/log.js';
import { boundPort, listenError } from '../../../shared/src/listen.js';
import { MAX_QUERY_BYTES, Rcode, answerQuery, headerOnly, truncated } from './answer.js';
import type { Zone } from './answer.js';

/** Largest UDP reply without EDNS (RFC 1035); a longer one is sent truncated, and the resolver asks over TCP. */
const UDP_REPLY_BYTES = 512;
/** Queries being answered at once (each waits for Redis); more are dropped, as a busy server would. */
const MAX_IN_FLIGHT = 256;
const MAX_TCP_CONNECTIONS = 64;
const TCP_IDLE_MS = 10_000;
/** Attempts to find one port free for both UDP and TCP when DNS_PORT is 0. */
const FREE_PORT_ATTEMPTS = 10;

export interface DnsServerDeps {
  zone: Zone;
  host: string;
  /** 0: any port free for both UDP and TCP. */
  port: number;
  log: Logger;
}

export interface DnsServer {
  /** Bind UDP and TCP; resolves with the port. */
  listen(): Promise<number>;
  stop(): Promise<void>;
}

export function createDnsServer(deps: DnsServerDeps): DnsServer {
  const { zone, log } = deps;
  let inFlight = 0;
  let udp: dgram.Socket | undefined;
  let tcp: net.Server | undefined;
  const connections = new Set<net.Socket>();

  /** The reply to one packet; a failure reading the zone is SERVFAIL, never a thrown error. */
  async function reply(query: Buffer): Promise<Buffer | undefined> {
    if (inFlight >= MAX_IN_FLIGHT) return undefined;
    inFlight++;
    try {
      return await answerQuery(query, zone);
    } catch (err) {
      log.warn({ err }, 'DNS query failed');
      return query.length >= 12 ? headerOnly(query, Rcode.SERVFAIL) : undefined;
    } finally {
      inFlight--;
    }
  }

  function onDatagram(socket: dgram.Socket, query: Buffer, from: dgram.RemoteInfo): void {
    void reply(query).then((answer) => {
      if (answer === undefined || udp !== socket) return; // nothing to say, or the server stopped meanwhile
      socket.send(answer.length > UDP_REPLY_BYTES ? truncated(answer) : answer, from.port, from.address, (err) => {
        if (err) log.debug({ err }, 'DNS UDP reply not sent');
      });
    });
  }

  function onConnection(conn: net.Socket): void {
    connections.add(conn);
    conn.once('close', () => connections.delete(conn));
    conn.setTimeout(TCP_IDLE_MS, () => conn.destroy());
    conn.on('error', () => conn.destroy());
    let buffered = Buffer.alloc(0);
    let busy = false;
    // One query at a time per connection (a pipelining resolver waits); at most one query's bytes held beyond it.
    const drain = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      while (buffered.length >= 2 && !conn.destroyed) {
        const length = buffered.readUInt16BE(0);
        if (length > MAX_QUERY_BYTES) return void conn.destroy();
        if (buffered.length < 2 + length) break;
        const query = buffered.subarray(2, 2 + length);
        buffered = buffered.subarray(2 + length);
        const answer = await reply(query);
        if (answer === undefined) return void conn.destroy();
        const framed = Buffer.alloc(2 + answer.length);
        framed.writeUInt16BE(answer.length, 0);
        answer.copy(framed, 2);
        conn.write(framed);
      }
      busy = false;
    };
    conn.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length > 2 * (2 + MAX_QUERY_BYTES)) return void conn.destroy();
      void drain();
    });
  }

  async function bindBoth(port: number): Promise<number> {
    const socket = dgram.createSocket({ type: net.isIPv6(deps.host) ? 'udp6' : 'udp4' });
    socket.on('message', (query, from) => onDatagram(socket, query, from));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (err: NodeJS.ErrnoException) => reject(listenError(err, deps.host, port, { port: 'DNS_PORT', host: 'DNS_BIND' })));
      socket.bind(port, deps.host, () => resolve());
    });
    socket.on('error', (err) => log.warn({ err }, 'DNS UDP socket error'));
    const bound = socket.address().port;
    const server = net.createServer(onConnection);
    server.maxConnections = MAX_TCP_CONNECTIONS;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err: NodeJS.ErrnoException) => reject(listenError(err, deps.host, bound, { port: 'DNS_PORT', host: 'DNS_BIND' })));
        server.listen(bound, deps.host, () => resolve());
      });
    } catch (err) {
      socket.close();
      throw err;
    }
    udp = socket;
    tcp = server;
    return boundPort(server);
  }

  return {
    async listen() {
      for (let attempt = 1; ; attempt++) {
        try {
          const port = await bindBoth(deps.port);
          log.info({ host: deps.host, port, domain: zone.domain }, 'DNS server listening (UDP and TCP)');
          return port;
        } catch (err) {
          // With port 0 the UDP port picked may be taken for TCP: pick again.
          if (deps.port !== 0 || attempt >= FREE_PORT_ATTEMPTS) throw err;
        }
      }
    },
    async stop() {
      udp?.close();
      udp = undefined;
      const server = tcp;
      tcp = undefined;
      if (server) {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const conn of connections) conn.destroy();
        await closed;
      }
    },
  };
}
