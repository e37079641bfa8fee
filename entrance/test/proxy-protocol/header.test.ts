// The PROXY protocol parser on its own: v1 and v2 headers as nginx, HAProxy and cloud balancers write
// them, every truncation of them (need more bytes, never a wrong answer), oversize and garbage.
import t from 'tap';
import { MAX_V1_BYTES, MAX_V2_BYTES, V2_SIGNATURE, parseProxyHeader } from '../../../shared/src/proxy-header.js';

const REQUEST = Buffer.from('GET /dandelion/ws/ HTTP/1.1\r\nhost: x\r\n\r\n');

/** A v2 header: version 2, `command` (0 LOCAL, 1 PROXY), `familyTransport`, then `body`. */
function v2(command: number, familyTransport: number, body: Buffer): Buffer {
  const fixed = Buffer.alloc(4);
  fixed.writeUInt8(0x20 | command, 0);
  fixed.writeUInt8(familyTransport, 1);
  fixed.writeUInt16BE(body.length, 2);
  return Buffer.concat([V2_SIGNATURE, fixed, body]);
}

function inet4(src: number[], dst: number[], srcPort: number, dstPort: number): Buffer {
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(srcPort, 0);
  ports.writeUInt16BE(dstPort, 2);
  return Buffer.concat([Buffer.from(src), Buffer.from(dst), ports]);
}

function inet6(src: number[], dst: number[]): Buffer {
  const words = (groups: number[]): Buffer => {
    const b = Buffer.alloc(16);
    groups.forEach((g, i) => b.writeUInt16BE(g, i * 2));
    return b;
  };
  return Buffer.concat([words(src), words(dst), Buffer.from([0x1f, 0x90, 0x01, 0xbb])]);
}

t.test('v1 TCP4 and TCP6 name the client; what follows the line is not part of it', async (t) => {
  const line = 'PROXY TCP4 203.0.113.7 198.51.100.1 56324 443\r\n';
  t.same(parseProxyHeader(Buffer.concat([Buffer.from(line), REQUEST])), { kind: 'header', version: 1, length: line.length, client: '203.0.113.7' });
  const six = 'PROXY TCP6 2001:DB8::7 2001:db8::1 56324 443\r\n';
  t.same(parseProxyHeader(Buffer.from(six)), { kind: 'header', version: 1, length: six.length, client: '2001:db8::7' }, 'normalised to lower case');
  const longest = `PROXY TCP6 ${'ffff:'.repeat(7)}ffff ${'ffff:'.repeat(7)}ffff 65535 65535\r\n`;
  t.same(parseProxyHeader(Buffer.from(longest)), { kind: 'header', version: 1, length: longest.length, client: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff' });
  t.same(parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8:0:0:0:0:0:7 ::1 1 2\r\n')), { kind: 'header', version: 1, length: 41, client: '2001:db8::7' }, 'written in full, compressed as a socket address is');
  t.same(parseProxyHeader(Buffer.from('PROXY TCP6 ::ffff:10.0.0.7 ::1 1 2\r\n')), { kind: 'header', version: 1, length: 36, client: '10.0.0.7' }, 'IPv4-mapped: the IPv4 address');
});

t.test('v1 UNKNOWN (a balancer\'s own connection) names nobody', async (t) => {
  t.same(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')), { kind: 'header', version: 1, length: 15, client: undefined });
  t.same(parseProxyHeader(Buffer.from('PROXY UNKNOWN ffff:: ffff:: 1 2\r\n')), { kind: 'header', version: 1, length: 33, client: undefined });
  const longest = `PROXY UNKNOWN ${'ffff:'.repeat(7)}ffff ${'ffff:'.repeat(7)}ffff 65535 65535\r\n`;
  t.equal(longest.length, MAX_V1_BYTES, 'the spec\'s longest line');
  t.same(parseProxyHeader(Buffer.from(longest)), { kind: 'header', version: 1, length: MAX_V1_BYTES, client: undefined });
});

t.test('v2 PROXY over TCP names the IPv4 or IPv6 client; TLVs are skipped', async (t) => {
  const four = v2(1, 0x11, inet4([203, 0, 113, 7], [198, 51, 100, 1], 56324, 443));
  t.same(parseProxyHeader(Buffer.concat([four, REQUEST])), { kind: 'header', version: 2, length: 28, client: '203.0.113.7' });
  const six = v2(1, 0x21, inet6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 7], [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]));
  t.same(parseProxyHeader(six), { kind: 'header', version: 2, length: 52, client: '2001:db8::7' });
  const tlv = Buffer.from([0x04, 0x00, 0x03, 0x61, 0x62, 0x63]); // PP2_TYPE_NOOP, 3 bytes
  const withTlv = v2(1, 0x11, Buffer.concat([inet4([10, 1, 2, 3], [10, 0, 0, 1], 1, 2), tlv]));
  t.same(parseProxyHeader(Buffer.concat([withTlv, REQUEST])), { kind: 'header', version: 2, length: 34, client: '10.1.2.3' });
});

t.test('v2 LOCAL, UNSPEC and UNIX name nobody: the connection is the balancer\'s own', async (t) => {
  t.same(parseProxyHeader(v2(0, 0x00, Buffer.alloc(0))), { kind: 'header', version: 2, length: 16, client: undefined });
  t.same(parseProxyHeader(v2(0, 0x11, inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2))), { kind: 'header', version: 2, length: 28, client: undefined }, 'LOCAL ignores addresses');
  t.same(parseProxyHeader(v2(1, 0x00, Buffer.alloc(0))), { kind: 'header', version: 2, length: 16, client: undefined });
  t.same(parseProxyHeader(v2(1, 0x31, Buffer.alloc(216))), { kind: 'header', version: 2, length: 232, client: undefined });
});

t.test('every truncation of a header asks for more bytes', async (t) => {
  const headers = [
    Buffer.from('PROXY TCP4 203.0.113.7 198.51.100.1 56324 443\r\n'),
    v2(1, 0x21, inet6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 7], [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1])),
  ];
  for (const header of headers) {
    for (let n = 0; n < header.length; n++) {
      const result = parseProxyHeader(header.subarray(0, n));
      if (result.kind !== 'incomplete') t.fail(`${n} of ${header.length} bytes: ${JSON.stringify(result)}`);
    }
    t.equal(parseProxyHeader(header).kind, 'header', `complete at ${header.length} bytes`);
  }
});

t.test('oversize: a v1 line with no CRLF within 107 bytes, a v2 header longer than accepted', async (t) => {
  const noEnd = Buffer.from(`PROXY TCP4 ${'1'.repeat(200)}`);
  t.equal(parseProxyHeader(noEnd.subarray(0, MAX_V1_BYTES - 1)).kind, 'incomplete');
  t.match(parseProxyHeader(noEnd.subarray(0, MAX_V1_BYTES)), { kind: 'invalid', reason: /longer than 107/ });
  t.match(parseProxyHeader(noEnd), { kind: 'invalid' });
  const crlfTooLate = Buffer.from(`PROXY UNKNOWN ${'x'.repeat(MAX_V1_BYTES)}\r\n`);
  t.match(parseProxyHeader(crlfTooLate), { kind: 'invalid', reason: /longer than/ });
  const big = v2(1, 0x11, Buffer.alloc(MAX_V2_BYTES));
  t.match(parseProxyHeader(big.subarray(0, 16)), { kind: 'invalid', reason: /over the 1024 accepted/ }, 'refused from its length field alone, before the body arrives');
  const largest = v2(1, 0x11, Buffer.concat([inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2), Buffer.alloc(MAX_V2_BYTES - 16 - 12)]));
  t.equal(parseProxyHeader(largest).kind, 'header', 'exactly the largest accepted');
});

t.test('garbage is no header', async (t) => {
  const cases: Array<[string, Buffer]> = [
    ['an HTTP request', REQUEST],
    ['a TLS ClientHello', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])],
    ['a first byte that starts neither version', Buffer.from('Q')],
    ['lower-case proxy', Buffer.from('proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n')],
    ['an unknown protocol', Buffer.from('PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n')],
    ['TCP4 with IPv6 addresses', Buffer.from('PROXY TCP4 ::1 ::1 1 2\r\n')],
    ['TCP6 with IPv4 addresses', Buffer.from('PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n')],
    ['a host name', Buffer.from('PROXY TCP4 example.net 5.6.7.8 1 2\r\n')],
    ['a port over 65535', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n')],
    ['a port with a leading zero', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n')],
    ['a missing port', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n')],
    ['an extra field', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n')],
    ['double spaces', Buffer.from('PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n')],
    ['a v2 signature with one byte wrong', Buffer.concat([V2_SIGNATURE.subarray(0, 11), Buffer.from([0x0b])])],
    ['v2 version 3', Buffer.concat([v2(1, 0x11, inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)).subarray(0, 12), Buffer.from([0x31, 0x11, 0, 12])])],
    ['v2 command 2', v2(2, 0x11, inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2))],
    ['v2 over UDP', v2(1, 0x12, inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2))],
    ['v2 IPv4 too short', v2(1, 0x11, Buffer.alloc(8))],
    ['v2 IPv6 too short', v2(1, 0x21, Buffer.alloc(12))],
  ];
  for (const [name, bytes] of cases) t.match(parseProxyHeader(bytes), { kind: 'invalid', reason: /./ }, name);
});
