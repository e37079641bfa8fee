/**
 * A TCP proxy to one loopback port that a test can cut like a network partition: while cut, it
 * forwards nothing either way and answers nothing, but closes nothing either (a blackhole: the ends
 * learn of it only by their own timeouts); new connections are accepted and left hanging. Healed, the
 * connections held during the cut are dropped (their bytes are gone) and new ones are forwarded again.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface BlackholeProxy {
  port: number;
  cut(): void;
  heal(): void;
  stop(): Promise<void>;
}

export async function startBlackholeProxy(t: { teardown(fn: () => unknown): void }, targetPort: number): Promise<BlackholeProxy> {
  let partitioned = false;
  const open = new Set<net.Socket>();
  /** Sockets (either end) that saw the partition: destroyed at the heal. */
  const caught = new Set<net.Socket>();
  const server = net.createServer((client) => {
    open.add(client);
    client.once('close', () => open.delete(client));
    client.on('error', () => {
      /* intentional: the other end went away */
    });
    if (partitioned) {
      caught.add(client);
      client.on('data', () => undefined); // read and dropped
      return;
    }
    const upstream = net.connect(targetPort, '127.0.0.1');
    open.add(upstream);
    upstream.once('close', () => open.delete(upstream));
    upstream.on('error', () => client.destroy());
    const forward = (from: net.Socket, to: net.Socket): void => {
      from.on('data', (chunk: Buffer) => {
        if (partitioned) {
          caught.add(from).add(to);
          return; // dropped
        }
        to.write(chunk);
      });
      from.once('end', () => !partitioned && to.end());
      from.once('close', () => !partitioned && to.destroy());
    };
    forward(client, upstream);
    forward(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const proxy: BlackholeProxy = {
    port: (server.address() as AddressInfo).port,
    cut() {
      partitioned = true;
      // Every connection open now is inside the partition, whether or not it sends during it.
      for (const s of open) caught.add(s);
    },
    heal() {
      partitioned = false;
      for (const s of caught) s.destroy();
      caught.clear();
    },
    async stop() {
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  t.teardown(() => proxy.stop());
  return proxy;
}
