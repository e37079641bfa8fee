// PROXY protocol at the TCP accept of a real guarded HTTP(S) server: a listed balancer's header names
// the client the server sees (socketAddressOf, keep-alive requests and TLS included); a missing, slow,
// oversize or malformed header from a balancer closes that socket and nothing else; a header from an
// address that is not listed is never read as one.
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import { createGuardedServer } from '../../../shared/src/http-guard.js';
import type { TlsPair } from '../../../shared/src/http-guard.js';
import { listenOn } from '../../../shared/src/listen.js';
import { silentLogger } from '../../../shared/src/log.js';
import { socketAddressOf, trustedProxies } from '../../../shared/src/peer-address.js';
import { requireProxyHeaders } from '../../../shared/src/proxy-accept.js';
import type { ProxyAccept } from '../../../shared/src/proxy-accept.js';
import { V2_SIGNATURE } from '../../../shared/src/proxy-header.js';
import { createTestCa } from '../../../test/helpers/test-ca.js';

/** The balancer's address in these tests; peers from elsewhere connect from 127.0.0.3. */
const BALANCER = '127.0.0.2';
const STRANGER = '127.0.0.3';

/** A guarded server whose every answer is the peer address it sees; `from` lists the balancers. */
async function startEcho(t: { teardown(fn: () => unknown): void }, opts: { timeoutMs?: number; tls?: TlsPair } = {}): Promise<{ port: number; accept: ProxyAccept; server: http.Server }> {
  const server = createGuardedServer({
    log: silentLogger(),
    ...(opts.tls ? { tls: opts.tls } : {}),
    onRequest: (req, res) => {
      res.end(socketAddressOf(req));
    },
  });
  const accept = requireProxyHeaders(server, { from: trustedProxies([BALANCER]), log: silentLogger(), ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) });
  const port = await listenOn(server, '127.0.0.1', 0);
  t.teardown(async () => {
    accept.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port, accept, server };
}

interface Exchange {
  /** Everything the server sent, as text. */
  text: string;
  /** Whether the server closed the connection (rather than our timer). */
  closedByServer: boolean;
}

/** Connect from `localAddress`, write `chunks` `gapMs` apart, read until the server closes or `waitMs` passes. */
function exchange(port: number, chunks: Buffer[], opts: { localAddress: string; gapMs?: number; waitMs?: number }): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress: opts.localAddress });
    const received: Buffer[] = [];
    let closedByServer = true;
    const timer = setTimeout(() => {
      closedByServer = false;
      socket.destroy();
    }, opts.waitMs ?? 3_000);
    socket.on('connect', async () => {
      for (const chunk of chunks) {
        if (socket.destroyed) return;
        socket.write(chunk);
        if (opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
      }
    });
    socket.on('data', (d: Buffer) => received.push(d));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(received).toString('latin1'), closedByServer });
    });
  });
}

const GET = (connection = 'close'): Buffer => Buffer.from(`GET /who HTTP/1.1\r\nHost: test\r\nConnection: ${connection}\r\n\r\n`);
const v1 = (client: string, family = 'TCP4'): Buffer => Buffer.from(`PROXY ${family} ${client} ${family === 'TCP4' ? '127.0.0.1' : '::1'} 40000 443\r\n`);

function v2(command: number, familyTransport: number, body: Buffer): Buffer {
  const fixed = Buffer.from([0x20 | command, familyTransport, 0, 0]);
  fixed.writeUInt16BE(body.length, 2);
  return Buffer.concat([V2_SIGNATURE, fixed, body]);
}

const bodyOf = (text: string): string => text.split('\r\n\r\n').slice(1).join('\r\n\r\n');

t.test('a balancer\'s v1 or v2 header names the client; the request after it in the same packet is served', async (t) => {
  const { port, accept } = await startEcho(t);
  const four = await exchange(port, [Buffer.concat([v1('203.0.113.7'), GET()])], { localAddress: BALANCER });
  t.match(four.text, /^HTTP\/1.1 200/);
  t.equal(bodyOf(four.text), '203.0.113.7');
  const six = await exchange(port, [Buffer.concat([v1('2001:db8::7', 'TCP6'), GET()])], { localAddress: BALANCER });
  t.equal(bodyOf(six.text), '2001:db8::7', 'IPv6 client');
  const inet4 = Buffer.from([198, 51, 100, 9, 127, 0, 0, 1, 0x9c, 0x40, 0x01, 0xbb]);
  const binary = await exchange(port, [Buffer.concat([v2(1, 0x11, inet4), GET()])], { localAddress: BALANCER });
  t.equal(bodyOf(binary.text), '198.51.100.9', 'v2 IPv4 client');
  t.equal(accept.pending, 0, 'no socket is left waiting');
});

t.test('a health check (v1 UNKNOWN, v2 LOCAL) is the balancer itself', async (t) => {
  const { port } = await startEcho(t);
  const unknown = await exchange(port, [Buffer.concat([Buffer.from('PROXY UNKNOWN\r\n'), GET()])], { localAddress: BALANCER });
  t.equal(bodyOf(unknown.text), BALANCER);
  const local = await exchange(port, [Buffer.concat([v2(0, 0x00, Buffer.alloc(0)), GET()])], { localAddress: BALANCER });
  t.equal(bodyOf(local.text), BALANCER);
});

t.test('a header that arrives a few bytes at a time, then requests on the kept-alive connection', async (t) => {
  const { port } = await startEcho(t);
  const header = v1('192.0.2.44');
  const drip = [...Array.from({ length: header.length }, (_, i) => header.subarray(i, i + 1)), GET('keep-alive'), GET('close')];
  const answer = await exchange(port, drip, { localAddress: BALANCER, gapMs: 2 });
  const bodies = answer.text.match(/\r\n\r\n[^H]*/g)?.map((s) => s.slice(4));
  t.same(bodies, ['192.0.2.44', '192.0.2.44'], 'both requests are the client\'s, the second too');
});

t.test('a balancer\'s connection without a valid header is closed unanswered; the server serves on', async (t) => {
  const { port, accept } = await startEcho(t, { timeoutMs: 300 });
  const cases: Array<[string, Buffer[]]> = [
    ['a plain request, no header', [GET()]],
    ['garbage', [Buffer.from('\x16\x03\x01 hello there\r\n')]],
    ['a v1 line with a host name', [Buffer.from('PROXY TCP4 example.net 127.0.0.1 1 2\r\n'), GET()]],
    ['a v1 line that never ends (oversize)', [Buffer.from(`PROXY TCP4 ${'9'.repeat(4096)}`)]],
    ['a v2 header longer than accepted (oversize)', [v2(1, 0x11, Buffer.alloc(60_000))]],
    ['a v2 header over UDP', [Buffer.concat([v2(1, 0x12, Buffer.alloc(12)), GET()])]],
  ];
  for (const [name, chunks] of cases) {
    const answer = await exchange(port, chunks, { localAddress: BALANCER });
    t.ok(answer.closedByServer, `${name}: closed by the server`);
    t.equal(answer.text, '', `${name}: nothing answered`);
  }
  const slow = await exchange(port, [Buffer.from('PROXY TCP4 192.0.2.1 ')], { localAddress: BALANCER, waitMs: 3_000 });
  t.ok(slow.closedByServer, 'a header that stops half-way is cut after the time limit');
  const silent = await exchange(port, [], { localAddress: BALANCER, waitMs: 3_000 });
  t.ok(silent.closedByServer, 'a connection that sends nothing is cut after the time limit');
  // A balancer that resets half-way through its header: no crash, nothing held.
  const reset = net.connect({ host: '127.0.0.1', port, localAddress: BALANCER });
  await new Promise<void>((resolve) => reset.once('connect', () => resolve()));
  reset.write('PROXY TCP4 1.2');
  await new Promise((r) => setTimeout(r, 50));
  reset.resetAndDestroy();
  await new Promise((r) => setTimeout(r, 100));
  t.equal(accept.pending, 0, 'no socket is left waiting');
  const after = await exchange(port, [Buffer.concat([v1('203.0.113.8'), GET()])], { localAddress: BALANCER });
  t.equal(bodyOf(after.text), '203.0.113.8', 'the server still serves the balancer');
});

t.test('from an address that is not listed, a PROXY header is not read: it is a malformed request', async (t) => {
  const { port } = await startEcho(t);
  const spoof = await exchange(port, [Buffer.concat([v1('203.0.113.66'), GET()])], { localAddress: STRANGER });
  t.match(spoof.text, /^HTTP\/1.1 400/, 'refused by the HTTP parser');
  t.notMatch(spoof.text, /203\.0\.113\.66/, 'the named client is believed nowhere');
  const plain = await exchange(port, [GET()], { localAddress: STRANGER });
  t.equal(bodyOf(plain.text), STRANGER, 'a plain request from it is served as its own address');
});

t.test('over TLS: the header comes before the handshake, and names the client of the TLS socket', async (t) => {
  const ca = createTestCa();
  const { certPem, keyPem } = ca.serverPair('localhost', '127.0.0.1');
  const { port } = await startEcho(t, { tls: { cert: certPem, key: keyPem } });
  // A raw TCP socket writes the header, then TLS runs over that same socket: its ClientHello follows in
  // the same packet (corked), so the bytes after the header reach the TLS server through the put-back.
  const raw = net.connect({ host: '127.0.0.1', port, localAddress: BALANCER });
  await new Promise<void>((resolve) => raw.once('connect', () => resolve()));
  raw.cork();
  raw.write(v1('198.51.100.23'));
  const secure = tls.connect({ socket: raw, ca: ca.rootPem, servername: 'localhost' });
  process.nextTick(() => raw.uncork());
  const text = await new Promise<string>((resolve, reject) => {
    let received = '';
    secure.once('secureConnect', () => secure.write(GET()));
    secure.on('data', (d: Buffer) => (received += d.toString()));
    secure.once('end', () => resolve(received));
    secure.once('error', reject);
  });
  t.match(text, /^HTTP\/1.1 200/);
  t.equal(bodyOf(text), '198.51.100.23');
});
