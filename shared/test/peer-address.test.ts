// Whose address a request counts as: forwarded headers are believed only from a trusted proxy's socket,
// X-Forwarded-For is walked from the right past our own proxies, ranges are IPv4 and IPv6 CIDRs, and
// IPv4-mapped IPv6 peers match IPv4 entries. Real requests over loopback, from chosen source addresses
// (all of 127.0.0.0/8 is this machine).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { LOOPBACK_PROXIES, arrivedOverTls, checkAddressOrCidr, clientBlockOf, normaliseIp, remoteIpOf, trustedProxies } from '../src/peer-address.js';
import type { TrustedProxies } from '../src/peer-address.js';

t.test('addresses are normalised, entries checked', async (t) => {
  t.equal(normaliseIp('::ffff:127.0.0.1'), '127.0.0.1', 'IPv4-mapped IPv6 is IPv4');
  t.equal(normaliseIp(' [FE80::1%eth0] '), 'fe80::1', 'brackets, zone and case dropped');
  t.equal(normaliseIp('1.2.3.4:80'), '', 'not an address');
  t.equal(normaliseIp('unknown'), '');
  t.equal(checkAddressOrCidr('10.0.0.0/8'), undefined);
  t.equal(checkAddressOrCidr('fd00::/8'), undefined);
  t.equal(checkAddressOrCidr('::ffff:10.0.0.0/104'), undefined, 'a mapped IPv4 range');
  t.equal(checkAddressOrCidr('192.0.2.7'), undefined);
  t.match(checkAddressOrCidr('10.0.0.0/33'), /prefix/);
  t.match(checkAddressOrCidr('proxy.example'), /IP address or a CIDR/);
  t.match(checkAddressOrCidr('10.0.0.0/8/8'), /IP address or a CIDR/);
  t.throws(() => trustedProxies(['nope']));

  const trusted = trustedProxies(['10.0.0.0/8', '192.0.2.7', 'fd00::/8', '::ffff:172.16.0.0/108']);
  t.ok(trusted.has('10.200.3.4'));
  t.ok(trusted.has('::ffff:10.200.3.4'), 'a mapped peer matches an IPv4 range');
  t.ok(trusted.has('192.0.2.7'));
  t.notOk(trusted.has('192.0.2.8'));
  t.ok(trusted.has('FD12:3456::1'), 'IPv6 range, any case');
  t.notOk(trusted.has('fe80::1'));
  t.ok(trusted.has('172.16.9.9'), 'a range written as mapped IPv6 matches IPv4 peers');
  t.notOk(trusted.has('172.32.0.1'));
  t.notOk(trusted.has(''), 'no address is never trusted');
  t.notOk(trustedProxies([]).has('127.0.0.1'), 'the default trusts nobody');
  t.ok(LOOPBACK_PROXIES.has('127.0.0.9') && LOOPBACK_PROXIES.has('::1') && LOOPBACK_PROXIES.has('::ffff:127.0.0.1'));

  t.equal(clientBlockOf('203.0.113.9'), '203.0.113.9', 'an IPv4 client is its address');
  t.equal(clientBlockOf('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64', 'an IPv6 client is its /64');
  t.equal(clientBlockOf('2001:db8::1'), '2001:db8:0:0::/64', 'zeros the :: stood for');
  t.equal(clientBlockOf('64:ff9b::198.51.100.1'), '64:ff9b:0:0::/64', 'an embedded IPv4 tail fills two groups');
});

/** Each request's remoteIpOf and arrivedOverTls, as a server with `trusted` proxies sees them. */
async function serve(t: { teardown(fn: () => unknown): void }, trusted: TrustedProxies, host = '127.0.0.1'): Promise<(from: string, headers: Record<string, string | string[]>) => Promise<{ ip: string; tls: boolean }>> {
  const server = http.createServer((req, res) => res.end(JSON.stringify({ ip: remoteIpOf(req, trusted), tls: arrivedOverTls(req, trusted) })));
  await new Promise<void>((r) => server.listen(0, host, () => r()));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;
  return (from, headers) =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: host === '::' ? '127.0.0.1' : host, port, localAddress: from, headers, agent: false }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve(JSON.parse(body) as { ip: string; tls: boolean }));
      });
      req.on('error', reject);
      req.end();
    });
}

t.test('forwarded headers count only from a trusted proxy, walked from the right', async (t) => {
  const ask = await serve(t, trustedProxies(['127.0.0.2', '10.0.0.0/8']));
  const spoof = { 'x-forwarded-for': '198.51.100.66', 'x-real-ip': '198.51.100.77', 'x-forwarded-proto': 'https' };
  t.same(await ask('127.0.0.3', spoof), { ip: '127.0.0.3', tls: false }, 'an untrusted peer is its socket, whatever it writes');
  t.same(await ask('127.0.0.3', {}), { ip: '127.0.0.3', tls: false });
  t.same(await ask('127.0.0.2', {}), { ip: '127.0.0.2', tls: false }, 'the proxy without headers is itself');
  t.same(await ask('127.0.0.2', spoof), { ip: '198.51.100.66', tls: true }, 'the proxy\'s X-Forwarded-For and X-Forwarded-Proto');
  // A client wrote the first entry itself; our proxies appended the rest. The right-most one not ours is the client.
  t.equal((await ask('127.0.0.2', { 'x-forwarded-for': '6.6.6.6, 203.0.113.7, 10.1.2.3' })).ip, '203.0.113.7');
  t.equal((await ask('127.0.0.2', { 'x-forwarded-for': ['6.6.6.6', '203.0.113.8'] })).ip, '203.0.113.8', 'repeated headers are one list');
  t.equal((await ask('127.0.0.2', { 'x-forwarded-for': '10.9.9.9, 10.1.2.3' })).ip, '10.9.9.9', 'every hop trusted: the furthest one');
  t.equal((await ask('127.0.0.2', { 'x-forwarded-for': '203.0.113.7, junk' })).ip, '127.0.0.2', 'an unreadable right-most hop: the proxy itself');
  t.equal((await ask('127.0.0.2', { 'x-forwarded-for': '6.6.6.6, junk, 10.1.2.3' })).ip, '10.1.2.3', 'the walk stops at an unreadable hop');
  t.equal((await ask('127.0.0.2', { 'x-real-ip': '203.0.113.9' })).ip, '203.0.113.9', 'X-Real-IP when there is no X-Forwarded-For');
  t.equal((await ask('127.0.0.2', { 'x-real-ip': 'localhost' })).ip, '127.0.0.2', 'an X-Real-IP that is no address is ignored');
  t.equal((await ask('127.0.0.2', { 'x-forwarded-for': '::ffff:203.0.113.5' })).ip, '203.0.113.5', 'forwarded mapped addresses normalised');
  t.equal((await ask('127.0.0.2', { 'x-forwarded-proto': 'https, http' })).tls, false, 'the proxy\'s own (right-most) protocol counts');
});

t.test('a dual-stack socket sees IPv4 peers as mapped IPv6; they still match IPv4 entries', async (t) => {
  const ask = await serve(t, trustedProxies(['127.0.0.2']), '::');
  t.same(await ask('127.0.0.2', { 'x-forwarded-for': '2001:db8::7' }), { ip: '2001:db8::7', tls: false });
  t.same(await ask('127.0.0.4', { 'x-forwarded-for': '2001:db8::7' }), { ip: '127.0.0.4', tls: false }, 'normalised, not ::ffff:127.0.0.4');
});
