/** Listening helpers: start an HTTP server and learn its port; find a free port for a program we start. */
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';

/** The config keys a server's address comes from, so a failure to listen names them. */
export interface ListenKeys {
  /** e.g. BOX_PORT, METRICS_PORT */
  port: string;
  /** e.g. BOX_SERVER_IP, METRICS_IP */
  host: string;
}

/** A server could not listen where its config says; the message names the key, e.g. "BOX_PORT 7071: address in use". */
export class ListenError extends Error {
  override name = 'ListenError';
  constructor(
    readonly key: string,
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/**
 * Start an HTTP server listening and resolve with the port it got (port 0 picks a free one). With
 * `keys`, a failure is a ListenError naming the config key at fault, the operator's next step.
 */
export async function listenOn(server: net.Server, host: string, port: number, keys?: ListenKeys): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    const fail = (err: NodeJS.ErrnoException): void => reject(keys ? listenError(err, host, port, keys) : err);
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      resolve();
    });
  });
  return boundPort(server);
}

/**
 * Throw a ListenError naming the key when host:port cannot be bound right now: for a server another
 * program runs (nginx), which would otherwise fail in its own log while a probe of the port reached
 * whatever holds it.
 */
export async function checkCanListen(host: string, port: number, keys: ListenKeys): Promise<void> {
  const err = await bindError(host, port);
  if (err !== undefined) throw listenError(err, host, port, keys);
}

/** Listen on host:port and let go at once: the error the bind got, or undefined when it could. */
function bindError(host: string, port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', resolve);
    probe.listen(port, host, () => probe.close(() => resolve(undefined)));
  });
}

/** The ListenError for a failed bind (any socket: TCP, UDP), naming the key at fault. */
export function listenError(err: NodeJS.ErrnoException, host: string, port: number, keys: ListenKeys): ListenError {
  switch (err.code) {
    case 'EADDRINUSE':
      return new ListenError(keys.port, `${keys.port} ${port}: address in use (on ${host}); stop what holds it or choose another port`, err.code);
    case 'EACCES':
      return new ListenError(keys.port, `${keys.port} ${port}: permission denied; ports below 1024 need root or CAP_NET_BIND_SERVICE`, err.code);
    case 'EADDRNOTAVAIL':
      return new ListenError(keys.host, `${keys.host} ${host}: address not available on this machine`, err.code);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ListenError(keys.host, `${keys.host} ${host}: cannot be resolved`, err.code);
    default:
      return new ListenError(keys.port, `${keys.port} ${port} (on ${keys.host} ${host}): cannot listen: ${err.message}`, err.code);
  }
}

/** The TCP port a listening server is bound to (a server on a unix socket or a pipe has none). */
export function boundPort(server: Pick<net.Server, 'address'>): number {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error(`the server is not listening on a TCP port (${String(address)})`);
  return address.port;
}

/**
 * A TCP port free on `host` right now, for a server that cannot report the port it picked itself
 * (nginx when BOX_HTTP_PORT is 0). Another program could take it first; the caller then fails to bind.
 *
 * Picked at random below the kernel's ephemeral range rather than by binding port 0: port 0 draws from
 * that range, the same one every outgoing connection takes its source port from, so on a busy machine
 * a client's connect could take the port between this check and the server's bind (seen in CI).
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const below = ephemeralRangeStart();
  if (below - PICK_FROM > 1000) {
    for (let attempt = 0; attempt < 100; attempt++) {
      const port = randomInt(PICK_FROM, below);
      if (await canBind(host, port)) return port;
    }
  }
  return bindAny(host);
}

/** Ports picked by freePort start here: above the ones well-known services use. */
const PICK_FROM = 10_000;

/** The first port of the kernel's ephemeral range (Linux's default 32768 where it cannot be read). */
function ephemeralRangeStart(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32_768;
  } catch {
    return 32_768; // intentional: not Linux, or no /proc
  }
}

/** Whether a server can listen on host:port right now (in use or not permitted: false); other errors are thrown. */
export async function canBind(host: string, port: number): Promise<boolean> {
  const err = await bindError(host, port);
  if (err === undefined) return true;
  if (err.code === 'EADDRINUSE' || err.code === 'EACCES') return false;
  throw err;
}

/** A port the kernel picks (port 0). */
function bindAny(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const port = boundPort(srv);
      srv.close(() => resolve(port));
    });
  });
}
