/**
 * A stand-in for a box's viewer and publisher ports as the entrance's reachability probes see them: an HTTP
 * server answering every path as box `id` (its status page and its socket server's identity).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BoxPages {
  port: number;
  /** Stop answering (the box's ports close); also done at the test's end. */
  close(): Promise<void>;
}

export async function serveBoxPages(t: { teardown(fn: () => unknown): void }, host: string, port: number, id: string): Promise<BoxPages> {
  const server = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ID: id })));
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, () => resolve()));
  const close = (): Promise<void> => new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  });
  t.teardown(() => (server.listening ? close() : undefined));
  return { port: (server.address() as AddressInfo).port, close };
}

/** The port of box pages that answer until the test ends. */
export async function boxPages(t: { teardown(fn: () => unknown): void }, host: string, port: number, id: string): Promise<number> {
  return (await serveBoxPages(t, host, port, id)).port;
}
