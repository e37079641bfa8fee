/**
 * A TCP proxy in front of a real entrance, for the update tests: the entrance's ENTRANCE_URL names the proxy,
 * so both the box's WebSocket and its release downloads (the offer's URL) pass through it. It records each
 * release request ("<path> <Range header or whole>"), can pace what the entrance sends (`slow`: about
 * 25 MiB/s, so a test can kill a box mid-download) and can `hold` the box off the entrance (its WebSocket
 * connections are cut and refused; downloads still pass), as a box with no entrance in reach.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface EntranceProxy {
  /** The port to name in ENTRANCE_URL. */
  port: number;
  /** The entrance's port, once it listens. */
  target: number;
  /** Each release request, as "<path> <Range header or whole>". */
  served: string[];
  /** WebSocket connections refused while held. */
  refused: number;
  slow: boolean;
  hold(on: boolean): void;
}

const PACE_BYTES_PER_MS = 25 * 1024;

export async function startEntranceProxy(t: { teardown(fn: () => unknown): void }): Promise<EntranceProxy> {
  const sockets = new Set<net.Socket>();
  const wsClients = new Set<net.Socket>();
  let held = false;
  const proxy: EntranceProxy = {
    port: 0, target: 0, served: [], refused: 0, slow: false,
    hold(on) {
      held = on;
      if (on) for (const s of wsClients) s.destroy();
    },
  };
  let closing = false;
  const server = net.createServer((client) => {
    // A box still running while the test ends reconnects: cut at once, or server.close() would wait for it.
    if (closing) return void client.destroy();
    sockets.add(client);
    const upstream = net.connect(proxy.target, '127.0.0.1');
    sockets.add(upstream);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
      wsClients.delete(client);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.on('data', (chunk: Buffer) => {
      // A request head starts a chunk (downloads are GETs; WebSocket frames after the upgrade never match).
      const head = /^GET (\S+) HTTP\/1\.1\r\n([\s\S]*?)\r\n\r\n/.exec(chunk.toString('latin1'));
      if (head && /^upgrade: websocket/im.test(head[2] ?? '')) {
        if (held) {
          proxy.refused += 1;
          return end();
        }
        wsClients.add(client);
      } else if (head && /\/releases\//.test(head[1] ?? '')) {
        proxy.served.push(`${head[1]} ${/^range: *(.*)$/im.exec(head[2] ?? '')?.[1]?.trim() ?? 'whole'}`);
      }
      upstream.write(chunk);
    });
    let since = Date.now();
    let sent = 0;
    upstream.on('data', (chunk: Buffer) => {
      client.write(chunk);
      if (!proxy.slow) return void ((sent = 0), (since = Date.now()));
      sent += chunk.length;
      const aheadMs = sent / PACE_BYTES_PER_MS - (Date.now() - since);
      if (aheadMs > 5) {
        upstream.pause();
        setTimeout(() => upstream.resume(), aheadMs);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.port = (server.address() as AddressInfo).port;
  t.teardown(() => new Promise<void>((resolve) => {
    closing = true;
    server.close(() => resolve());
    for (const s of sockets) s.destroy();
  }));
  return proxy;
}
