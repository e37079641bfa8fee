/** Listening helpers: start an HTTP server and learn its port; find a free port for a program we start. */
import type { Server } from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

/** Start an HTTP server listening and resolve with the port it got (port 0 picks a free one). */
export async function listenOn(server: Server, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/**
 * A TCP port free on `host` right now, for a server that cannot report the port it picked itself
 * (nginx when BOX_HTTP_PORT is 0). Another program could take it first; the caller then fails to bind.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
