// Listening helpers on real loopback sockets: listenOn reports the port it got, and a failure names the
// config key at fault; checkCanListen probes a port another program will bind; freePort finds one.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import t from 'tap';
import { ListenError, boundPort, canBind, checkCanListen, freePort, listenOn } from '../src/listen.js';

const KEYS = { port: 'BOX_PORT', host: 'BOX_SERVER_IP' };

function closeServer(server: http.Server | net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

t.test('listenOn resolves with the port it got', async (t) => {
  const server = http.createServer((_req, res) => res.end('here'));
  const port = await listenOn(server, '127.0.0.1', 0, KEYS);
  t.teardown(() => closeServer(server));
  t.ok(port > 0);
  const body = await new Promise<string>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/' }, (res) => {
      let b = '';
      res.on('data', (d: Buffer) => (b += d.toString()));
      res.on('end', () => resolve(b));
    }).on('error', reject);
  });
  t.equal(body, 'here', 'it really listens there');
  t.equal(server.listenerCount('error'), 0, 'its one-shot error listener is gone once listening');
});

t.test('a port in use is a ListenError naming the port key; an address not on this machine names the host key', async (t) => {
  const holder = http.createServer();
  const port = await listenOn(holder, '127.0.0.1', 0);
  t.teardown(() => closeServer(holder));
  const inUse = await listenOn(http.createServer(), '127.0.0.1', port, KEYS).catch((e: unknown) => e);
  t.ok(inUse instanceof ListenError);
  t.match(inUse, { key: 'BOX_PORT', code: 'EADDRINUSE', message: `BOX_PORT ${port}: address in use (on 127.0.0.1); stop what holds it or choose another port` });
  const raw = await listenOn(http.createServer(), '127.0.0.1', port).catch((e: unknown) => e);
  t.notOk(raw instanceof ListenError, 'without keys the system error comes as it is');
  t.match(raw, { code: 'EADDRINUSE' });
  const notHere = await listenOn(http.createServer(), '192.0.2.1', 0, KEYS).catch((e: unknown) => e);
  t.match(notHere, { key: 'BOX_SERVER_IP', code: 'EADDRNOTAVAIL', message: /^BOX_SERVER_IP 192\.0\.2\.1: address not available/ });
  const probe = await checkCanListen('127.0.0.1', port, { port: 'BOX_HTTP_PORT', host: 'BOX_SERVER_IP' }).catch((e: unknown) => e);
  t.match(probe, { key: 'BOX_HTTP_PORT', code: 'EADDRINUSE' }, 'checkCanListen names the key too');
});

t.test('checkCanListen leaves a free port free; freePort gives one that can be bound', async (t) => {
  const port = await freePort();
  t.ok(port > 0 && port < 65536);
  await t.resolves(checkCanListen('127.0.0.1', port, KEYS));
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  t.equal((server.address() as net.AddressInfo).port, port, 'the probe let go of it');
  await closeServer(server);
});

t.test('freePort picks below the ephemeral range, where no outgoing connection takes its source port', async (t) => {
  const ephemeralStart = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  const ports = await Promise.all(Array.from({ length: 50 }, () => freePort()));
  t.ok(ports.every((p) => p >= 10_000 && p < ephemeralStart), `50 ports in 10000–${ephemeralStart - 1}: ${Math.min(...ports)}–${Math.max(...ports)}`);
  t.ok(new Set(ports).size > 40, 'spread at random, so test processes picking at once rarely pick the same');
  // freePort skips a port that canBind finds held.
  const held = net.createServer();
  await new Promise<void>((resolve) => held.listen(ports[0], '127.0.0.1', () => resolve()));
  t.teardown(() => closeServer(held));
  t.equal(await canBind('127.0.0.1', ports[0]!), false, 'canBind: a held port cannot be bound');
  t.equal(await canBind('127.0.0.1', ports[1]!), true, 'canBind: a free one can');
});

t.test('boundPort: the TCP port of a listening server, and a clear error for anything else', async (t) => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => closeServer(server));
  const address = server.address();
  t.equal(boundPort(server), typeof address === 'object' && address !== null ? address.port : -1);
  t.throws(() => boundPort(net.createServer()), /not listening on a TCP port \(null\)/, 'a server not listening');
  t.throws(() => boundPort({ address: () => '/run/dandelion.sock' }), /not listening on a TCP port \(\/run\/dandelion.sock\)/, 'a unix socket');
});
