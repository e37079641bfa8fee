// From a bind address to the host a client or a URL uses: wildcards become the loopback of their family,
// IPv6 hosts are bracketed. A real server bound to each wildcard is reached at the host given.
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { connectHostFor, hostPort, isWildcardAddress, urlHost } from '../src/bind-address.js';

t.test('wildcards are recognised', async (t) => {
  for (const ip of ['0.0.0.0', '::', '']) t.ok(isWildcardAddress(ip), JSON.stringify(ip));
  for (const ip of ['127.0.0.1', '::1', '192.0.2.7', 'fe80::1', 'localhost']) t.notOk(isWildcardAddress(ip), ip);
});

t.test('a wildcard becomes the loopback of its family; anything else is kept', async (t) => {
  const cases: Array<[bind: string, connect: string]> = [
    ['0.0.0.0', '127.0.0.1'], ['', '127.0.0.1'], ['::', '::1'],
    ['192.0.2.7', '192.0.2.7'], ['::1', '::1'], ['box.local', 'box.local'],
  ];
  for (const [bind, connect] of cases) t.equal(connectHostFor(bind), connect, `${JSON.stringify(bind)} → ${connect}`);
});

t.test('IPv6 hosts are bracketed in URLs, once', async (t) => {
  t.equal(urlHost('127.0.0.1'), '127.0.0.1');
  t.equal(urlHost('box.local'), 'box.local');
  t.equal(urlHost('::1'), '[::1]');
  t.equal(urlHost('[::1]'), '[::1]', 'already bracketed');
  t.equal(hostPort('::', 80), '[::]:80');
  t.equal(hostPort('0.0.0.0', 7071), '0.0.0.0:7071');
  t.equal(new URL(`http://${hostPort(connectHostFor('::'), 8080)}/`).hostname, '[::1]', 'a URL Node parses');
});

async function reachable(bindIp: string): Promise<boolean> {
  const server = net.createServer((s) => s.end());
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, bindIp, () => resolve());
    });
  } catch {
    return false; // no IPv6 on this machine: nothing to reach
  }
  const { port } = server.address() as AddressInfo;
  try {
    return await new Promise<boolean>((resolve) => {
      const c = net.connect(port, connectHostFor(bindIp), () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

t.test('a server bound to a wildcard is reached at the host given', async (t) => {
  t.ok(await reachable('0.0.0.0'), '0.0.0.0 through 127.0.0.1');
  const v6 = net.createServer();
  const hasV6 = await new Promise<boolean>((resolve) => {
    v6.once('error', () => resolve(false));
    v6.listen(0, '::1', () => v6.close(() => resolve(true)));
  });
  if (hasV6) t.ok(await reachable('::'), ':: through ::1');
  else t.pass('this machine has no IPv6 loopback; :: is checked where it has one');
});
