// Per-address limits at the upgrade: sockets per address (freed when a socket closes), handshakes per
// second as a token bucket, 503 while the byte budget is spent, IPv6 counted by /64, and a table of
// addresses that stays bounded whatever the number of addresses seen.
import { Duplex } from 'node:stream';
import t from 'tap';
import { AddressLimits, addressKey } from '../src/address-limits.js';

/** A socket that records what is written to it. */
function fakeSocket(): Duplex & { written: string } {
  const s = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      s.written += chunk.toString();
      cb();
    },
  }) as Duplex & { written: string };
  s.written = '';
  return s;
}

t.test('sockets per address, freed on close', async (t) => {
  const limits = new AddressLimits({ socketsPerAddress: 2, handshakesPerSecond: 100 });
  const a = fakeSocket();
  const b = fakeSocket();
  t.ok(limits.admit('10.0.0.1', a));
  t.ok(limits.admit('10.0.0.1', b));
  const c = fakeSocket();
  t.notOk(limits.admit('10.0.0.1', c));
  t.match(c.written, /^HTTP\/1\.1 429 Too Many Requests\r\n/);
  t.match(JSON.parse(c.written.split('\r\n\r\n')[1] ?? ''), { ERROR: /2 sockets/, ERROR_CODE: 'E_BUSY' });
  t.ok(limits.admit('10.0.0.2', fakeSocket()), 'another address is not affected');
  a.destroy();
  await new Promise((r) => setImmediate(r));
  t.ok(limits.admit('10.0.0.1', fakeSocket()), 'a closed socket frees its place');
});

t.test('handshakes per second: a burst of one second\'s worth, then the rate', async (t) => {
  let now = 1_000_000;
  const refused: string[] = [];
  const limits = new AddressLimits({ socketsPerAddress: 1000, handshakesPerSecond: 4, now: () => now, onRefused: (code) => refused.push(code) });
  const results = Array.from({ length: 6 }, () => limits.admit('10.0.0.1', fakeSocket()));
  t.same(results, [true, true, true, true, false, false]);
  t.same(refused, ['E_RATE', 'E_RATE']);
  const s = fakeSocket();
  now += 200;
  t.notOk(limits.admit('10.0.0.1', s), 'refused handshakes count too: the bucket is still empty');
  t.match(s.written, /retry-after: 1\r\n/);
  now += 300;
  t.ok(limits.admit('10.0.0.1', fakeSocket()), 'refilled at 4 a second');
});

t.test('503 while the process holds all it may', async (t) => {
  let busy = true;
  const limits = new AddressLimits({ socketsPerAddress: 10, handshakesPerSecond: 10, busy: () => busy });
  const s = fakeSocket();
  t.notOk(limits.admit('10.0.0.1', s));
  t.match(s.written, /^HTTP\/1\.1 503 /);
  busy = false;
  t.ok(limits.admit('10.0.0.1', fakeSocket()));
});

t.test('IPv6 counts by /64', async (t) => {
  t.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  t.equal(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64');
  t.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
  t.equal(addressKey('::ffff:192.0.2.1'), '192.0.2.1');
  t.equal(addressKey('192.0.2.1'), '192.0.2.1');
  t.equal(addressKey('x'.repeat(500)).length, 64, 'text from a proxy header is cut');
  const limits = new AddressLimits({ socketsPerAddress: 1, handshakesPerSecond: 100 });
  t.ok(limits.admit('2001:db8:1:2::10', fakeSocket()));
  t.notOk(limits.admit('2001:db8:1:2::20', fakeSocket()), 'one host\'s /64 shares one count');
});

t.test('the table of addresses stays bounded', async (t) => {
  let now = 0;
  const limits = new AddressLimits({ socketsPerAddress: 5, handshakesPerSecond: 5, maxAddresses: 100, now: () => now });
  const held = fakeSocket();
  t.ok(limits.admit('10.9.9.9', held), 'one address keeps a socket open throughout');
  for (let i = 0; i < 5000; i++) {
    now += 1;
    // Each connects once and goes away (as a scan does).
    const s = fakeSocket();
    limits.admit(`10.0.${i >> 8}.${i & 255}`, s);
    s.destroy();
    await new Promise((r) => setImmediate(r));
    if (limits.size > 100) break;
  }
  t.ok(limits.size <= 100, `at most 100 addresses remembered (${limits.size})`);
  for (let i = 0; i < 4; i++) t.ok(limits.admit('10.9.9.9', fakeSocket()), 'an address with a socket open is never forgotten');
  t.notOk(limits.admit('10.9.9.9', fakeSocket()), 'so its count still holds');
});
