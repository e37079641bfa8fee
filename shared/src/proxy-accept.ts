/**
 * PROXY protocol at the TCP accept of a server: a connection from one of the listed balancers must start
 * with a PROXY header (shared/src/proxy-header.ts), whose client then becomes the connection's peer
 * (peer-address.ts); a connection from anyone else is handed over untouched, its first bytes never read
 * as a header, so a stranger cannot name a client. The header is read with a bound (the parser's
 * MAX_PROXY_HEADER_BYTES, plus at most one chunk) and a time limit; a malformed, oversize or late
 * header closes that socket with a log line. What arrived after the header is put back (unshift) and the
 * socket goes to the server's own connection listeners (HTTP's, or TLS's, which then reads the handshake).
 */
import type net from 'node:net';
import tls from 'node:tls';
import type { Logger } from './log.js';
import { normaliseIp, rememberProxiedClient } from './peer-address.js';
import type { TrustedProxies } from './peer-address.js';
import { parseProxyHeader } from './proxy-header.js';

/** A balancer writes its header as soon as it has connected; this is ample, and what a silent socket costs us. */
export const PROXY_HEADER_TIMEOUT_MS = 5_000;

export interface ProxyAcceptOptions {
  /** The balancers (PROXY_PROTOCOL_FROM): connections from them must start with a PROXY header. */
  from: TrustedProxies;
  log: Logger;
  timeoutMs?: number;
}

export interface ProxyAccept {
  /** Sockets still owing their header (for tests and shutdown). */
  readonly pending: number;
  /** Destroy the sockets still owing their header: the server they were going to is closing. */
  close(): void;
}

type ConnectionListener = (this: net.Server, socket: net.Socket) => void;

/**
 * Put the PROXY header check in front of `server`'s connection listeners. Call before `listen`, after
 * the server is built (its listeners are taken as they are then).
 */
export function requireProxyHeaders(server: net.Server, opts: ProxyAcceptOptions): ProxyAccept {
  const listeners = server.listeners('connection') as ConnectionListener[];
  server.removeAllListeners('connection');
  const handOver = (socket: net.Socket): void => {
    for (const listener of listeners) listener.call(server, socket);
  };
  const pending = new Set<net.Socket>();
  const timeoutMs = opts.timeoutMs ?? PROXY_HEADER_TIMEOUT_MS;
  const tlsServer = server instanceof tls.Server;

  server.on('connection', (socket: net.Socket) => {
    const peer = normaliseIp(socket.remoteAddress ?? '');
    if (!opts.from.has(peer)) return handOver(socket);
    pending.add(socket);
    let received: Buffer = Buffer.alloc(0);
    const finish = (): void => {
      clearTimeout(timer);
      pending.delete(socket);
      socket.removeListener('data', onData);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
    };
    const refuse = (reason: string): void => {
      finish();
      opts.log.warn({ peer, reason }, 'connection from a PROXY_PROTOCOL_FROM balancer closed: no valid PROXY header');
      socket.destroy();
    };
    const onData = (chunk: Buffer): void => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      const result = parseProxyHeader(received);
      if (result.kind === 'incomplete') return;
      if (result.kind === 'invalid') return refuse(result.reason);
      // Stop the flow before the listener goes, or bytes arriving meanwhile would be emitted to nobody.
      socket.pause();
      finish();
      if (result.client !== undefined) rememberProxiedClient(socket, result.client);
      const rest = received.subarray(result.length);
      if (rest.length > 0) socket.unshift(rest);
      handOver(socket);
      // HTTP's listener reads the socket's stream but does not undo our pause: let the put-back bytes
      // flow. TLS's takes the socket over, put-back bytes included; a resume here would steal its reads.
      if (!tlsServer) socket.resume();
    };
    const onError = (err: Error): void => {
      finish();
      opts.log.debug({ peer, err: err.message }, 'socket error before its PROXY header');
      socket.destroy();
    };
    const onClose = (): void => finish();
    const timer = setTimeout(() => refuse(`no complete PROXY header within ${timeoutMs} ms`), timeoutMs);
    timer.unref();
    socket.on('data', onData);
    socket.on('error', onError);
    socket.once('close', onClose);
  });

  return {
    get pending() {
      return pending.size;
    },
    close() {
      for (const socket of pending) socket.destroy();
      pending.clear();
    },
  };
}
