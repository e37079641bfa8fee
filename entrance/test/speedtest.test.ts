// The entrance's speed-test endpoint moves exactly the bytes asked for, refuses bad sizes, oversized
// bodies and wrong methods with a 4xx, runs at most one test per client address and four in all
// (429 with retry-after), cuts off a stalled test at its deadline, and keeps serving after each refusal.
import http from 'node:http';
import net from 'node:net';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { SPEEDTEST_LIMITS } from '../src/speedtest/limits.js';
import { startSpeedTest } from '../../test/helpers/speed-test.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { startRedis } from '../../test/helpers/redis.js';

const MAX = SPEEDTEST_LIMITS.maxBytes;

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** http://127.0.0.1:PORT/dandelion/speedtest/ for the entrance's ws://…/dandelion/ws/ */
const speedTestUrl = (wsUrl: string): string => wsUrl.replace(/^ws:/, 'http:').replace(/ws\/$/, 'speedtest/');

/** One request on its own connection; `body` is sent chunked unless a content-length header is given. */
function request(url: string, opts: { method?: string; headers?: http.OutgoingHttpHeaders; body?: Buffer; localAddress?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false, localAddress: opts.localAddress }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** A download that is started and then not read, so it holds its slot until `release()`. */
async function holdDownload(base: string, localAddress = '127.0.0.1'): Promise<{ release(): void }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${base}download?bytes=${MAX}`, { agent: false, localAddress }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`held download got ${res.statusCode}`));
      res.pause();
      res.on('error', () => {
        /* intentional: destroying the request on release aborts the response */
      });
      resolve({ release: () => req.destroy() });
    });
    req.on('error', (err) => {
      if (!req.destroyed) reject(err); // destroying it on release is expected
    });
  });
}

/** Repeat `attempt` while the entrance still answers 429: a released slot is given back when the server sees the close, a moment after the client. */
async function onceAdmitted(attempt: () => Promise<Reply>): Promise<Reply> {
  let reply = await attempt();
  for (let i = 0; i < 100 && reply.status === 429; i++) {
    await new Promise((r) => setTimeout(r, 20));
    reply = await attempt();
  }
  return reply;
}

const json = (r: Reply): Record<string, unknown> => JSON.parse(r.body.toString()) as Record<string, unknown>;

t.test('a download is exactly N incompressible, uncached bytes', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startEntrance(t, { redisUrl: redis.url });
  const base = speedTestUrl(url);
  for (const n of [1, 3 * 1024 * 1024 + 7]) {
    const r = await request(`${base}download?bytes=${n}`);
    t.equal(r.status, 200, `${n}: status`);
    t.equal(r.body.length, n, `${n}: body length`);
    t.equal(r.headers['content-length'], String(n), `${n}: content-length`);
    t.equal(r.headers['cache-control'], 'no-store', `${n}: not cached`);
  }
  const sample = (await request(`${base}download?bytes=${2 * 1024 * 1024}`)).body;
  t.ok(gzipSync(sample).length > sample.length * 0.99, 'gzip cannot shrink it');
  // The largest allowed size, counted as it streams rather than held.
  const counted = await new Promise<number>((resolve, reject) => {
    http.get(`${base}download?bytes=${MAX}`, { agent: false }, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => (n += c.length));
      res.on('end', () => resolve(n));
      res.on('error', reject);
    }).on('error', reject);
  });
  t.equal(counted, MAX, 'the maximum size is served in full');
});

t.test('a bad size or a wrong method is refused with a 4xx and a JSON ERROR', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startEntrance(t, { redisUrl: redis.url });
  const base = speedTestUrl(url);
  const badQueries = ['', '?bytes=', '?bytes=0', '?bytes=-1', '?bytes=1.5', '?bytes=abc', '?bytes=1e3', '?bytes=0x10', '?bytes=%201', '?bytes=007',
    `?bytes=${MAX + 1}`, '?bytes=99999999999999999999999', '?bytes=1&bytes=2', '?size=10'];
  for (const q of badQueries) {
    const r = await request(`${base}download${q}`);
    t.equal(r.status, 400, `download${q}: 400`);
    t.type(json(r).ERROR, 'string', `download${q}: ERROR says why`);
  }
  const postDownload = await request(`${base}download?bytes=10`, { method: 'POST', body: Buffer.from('x') });
  t.equal(postDownload.status, 405);
  t.equal(postDownload.headers.allow, 'GET');
  const getUpload = await request(`${base}upload`);
  t.equal(getUpload.status, 405);
  t.equal(getUpload.headers.allow, 'POST');
  t.equal((await request(`${base}download?bytes=10`)).body.length, 10, 'still serving');
});

t.test('an upload is counted exactly, with or without a content-length', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startEntrance(t, { redisUrl: redis.url });
  const base = speedTestUrl(url);
  const body = Buffer.alloc(5 * 1024 * 1024 + 3, 7);
  const declared = await request(`${base}upload`, { method: 'POST', headers: { 'content-length': body.length }, body });
  t.equal(declared.status, 200);
  t.equal(json(declared).BYTES, body.length, 'declared length: every byte counted');
  t.ok(Number.isInteger(json(declared).MS) && (json(declared).MS as number) >= 0, 'MS is the server-side time in ms');
  const chunked = await request(`${base}upload`, { method: 'POST', body });
  t.equal(json(chunked).BYTES, body.length, 'chunked: every byte counted');
  const empty = await request(`${base}upload`, { method: 'POST', headers: { 'content-length': 0 } });
  t.same(json(empty).BYTES, 0, 'an empty body is 0 bytes');
});

t.test('an oversized upload gets 413 and the connection is closed; the entrance keeps serving', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startEntrance(t, { redisUrl: redis.url });
  const base = speedTestUrl(url);

  // Declared too big: refused from the headers alone, before any body is sent.
  const early = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.request(`${base}upload`, { method: 'POST', headers: { 'content-length': MAX + 1 }, agent: false }, resolve);
    req.on('error', reject);
    req.flushHeaders();
  });
  t.equal(early.statusCode, 413, 'declared length over the maximum: 413');
  t.equal(early.headers.connection, 'close');
  early.resume();

  // No content-length: counted as it arrives, and cut off past the maximum. The 413 may be lost to
  // the reset of a connection still being written to; what matters is that it never succeeds.
  const outcome = await new Promise<string>((resolve) => {
    const req = http.request(`${base}upload`, { method: 'POST', agent: false }, (res) => {
      res.on('error', () => {
        /* intentional: the refused connection is destroyed */
      });
      res.resume();
      resolve(String(res.statusCode));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    const chunk = Buffer.alloc(1024 * 1024, 1);
    let sent = 0;
    const write = (): void => {
      while (sent <= MAX + 8 * chunk.length) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', write);
      }
      req.end();
    };
    write();
  });
  t.match(outcome, /^(413|ECONNRESET|EPIPE)$/, `chunked body over the maximum: refused (${outcome})`);

  const after = await onceAdmitted(() => request(`${base}download?bytes=10`));
  t.equal(after.status, 200, 'the entrance keeps serving, and the refused test gave its slot back');
});

t.test('a content-length that lies is handled', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startEntrance(t, { redisUrl: redis.url });
  const base = speedTestUrl(url);
  const { hostname, port, pathname } = new URL(`${base}upload`);

  // Longer than declared: only the declared bytes are the body; the rest is a malformed next
  // request, which Node refuses by closing the connection.
  const longer = await rawExchange(Number(port), `POST ${pathname} HTTP/1.1\r\nhost: ${hostname}\r\ncontent-length: 10\r\n\r\n${'x'.repeat(20)}`);
  t.notMatch(longer, /"BYTES":(?!10\b)/, 'never more than the declared bytes counted');

  // Shorter than declared, then the client goes away: the test ends and its slot is free again.
  const sock = net.connect(Number(port), '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  sock.write(`POST ${pathname} HTTP/1.1\r\nhost: ${hostname}\r\ncontent-length: 1000\r\n\r\n${'x'.repeat(10)}`);
  sock.destroy();
  const next = await onceAdmitted(() => request(`${base}upload`, { method: 'POST', body: Buffer.alloc(100) }));
  t.equal(next.status, 200, 'the entrance keeps serving and an abandoned upload frees its slot');
  t.equal(json(next).BYTES, 100);
});

t.test('one test per address and four in all; others get 429 with retry-after', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startEntrance(t, { redisUrl: redis.url });
  const base = speedTestUrl(url);

  const held = await holdDownload(base, '127.0.0.1');
  const again = await request(`${base}download?bytes=10`, { localAddress: '127.0.0.1' });
  t.equal(again.status, 429, 'second download from the same address: 429');
  t.match(again.headers['retry-after'], /^\d+$/, 'retry-after in seconds');
  t.type(json(again).ERROR, 'string');
  const upload = await new Promise<http.IncomingMessage>((resolve, reject) => {
    // Headers only: the 429 comes before any body is read.
    const req = http.request(`${base}upload`, { method: 'POST', headers: { 'content-length': 1000 }, agent: false, localAddress: '127.0.0.1' }, resolve);
    req.on('error', reject);
    req.flushHeaders();
  });
  t.equal(upload.statusCode, 429, 'an upload from the same address: 429');
  upload.resume();

  const others = await Promise.all(['127.0.0.2', '127.0.0.3', '127.0.0.4'].map((a) => holdDownload(base, a)));
  const fifth = await request(`${base}download?bytes=10`, { localAddress: '127.0.0.5' });
  t.equal(fifth.status, 429, 'a fifth test from a new address: 429');
  t.match(fifth.headers['retry-after'], /^\d+$/);

  held.release();
  const admitted = await onceAdmitted(() => request(`${base}download?bytes=10`, { localAddress: '127.0.0.5' }));
  t.equal(admitted.status, 200, 'a released slot is taken by the next client');
  for (const o of others) o.release();
  const own = await onceAdmitted(() => request(`${base}download?bytes=10`, { localAddress: '127.0.0.1' }));
  t.equal(own.body.length, 10, 'the first address may test again once its test ended');
});

t.test('a stalled download is cut off at the deadline and its slot given back', async (t) => {
  // Built without the entrance so the deadline can be short; the entrance uses SPEEDTEST_LIMITS.
  const { base } = await startSpeedTest(t, { maxMs: 200 });
  const stalled = await new Promise<http.IncomingMessage>((resolve, reject) => {
    http.get(`${base}download?bytes=${MAX}`, { agent: false }, resolve).on('error', reject);
  });
  stalled.pause(); // never read: the server's buffers fill and it waits for a drain that never comes
  const next = await onceAdmitted(() => request(`${base}download?bytes=10`));
  t.equal(next.body.length, 10, 'the slot is free again after the deadline');
  let received = 0;
  const end = await new Promise<string>((resolve) => {
    stalled.on('data', (c: Buffer) => (received += c.length));
    stalled.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    stalled.on('end', () => resolve('end'));
    stalled.resume();
  });
  t.ok(received < MAX, `the stalled download was cut short (${received} bytes, ${end})`);
});

/** Send raw bytes and return everything received until the server closes the connection. */
function rawExchange(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.write(text));
    const chunks: Buffer[] = [];
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('error', reject);
    sock.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}
