// Slow clients cannot hold the capacity test's slots: a transfer slower than the floor rate over a
// window is cut and gives its slot back (a download that is not read, an upload that trickles), while a
// fast one is not; and enrolled boxes, proving their key with the same signed headers as at the
// WebSocket upgrade, have reserved slots that anonymous clients holding every other slot cannot take.
import http from 'node:http';
import net from 'node:net';
import t from 'tap';
import { measureCapacity, SpeedTestError } from '../../agent/src/bandwidth/speed-test.js';
import { AUTH_HEADERS } from '../../shared/src/enrolment/codec.js';
import { SPEEDTEST_LIMITS } from '../src/speedtest/limits.js';
import { startSpeedTest } from '../../test/helpers/speed-test.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { startRedis } from '../../test/helpers/redis.js';
import { enrolledBox } from '../../test/helpers/enrolment.js';

const MAX = SPEEDTEST_LIMITS.maxBytes;

/** A raw connection that sent `head`; `closed` resolves when the server ends it. */
function rawClient(port: number, head: string, localAddress = '127.0.0.1'): { sock: net.Socket; closed: Promise<void>; received(): string } {
  const sock = net.connect({ port, host: '127.0.0.1', localAddress });
  let text = '';
  sock.on('data', (d: Buffer) => (text += d.subarray(0, 200).toString('latin1')));
  sock.on('error', () => {
    /* intentional: a reset when the server cuts the test is the expected outcome */
  });
  sock.write(head);
  return { sock, closed: new Promise((r) => sock.once('close', () => r())), received: () => text };
}

/** A download that is started and then never read, so only the server can end it. */
function stalledDownload(port: number, localAddress = '127.0.0.1'): { sock: net.Socket; closed: Promise<void>; received(): string } {
  const c = rawClient(port, `GET /dandelion/speedtest/download?bytes=${MAX} HTTP/1.1\r\nhost: x\r\n\r\n`, localAddress);
  c.sock.once('data', () => c.sock.pause()); // after the status line: stop reading, the buffers fill
  return c;
}

function get(url: string, localAddress = '127.0.0.1', headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false, localAddress, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

/** Resolves true when `p` settles within `ms` (loose: the machine is loaded). */
const within = (p: Promise<unknown>, ms: number): Promise<boolean> =>
  Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);

t.test('a download that is not read and an upload that trickles are cut; their slots are given back', async (t) => {
  // Floor 100 kB/s over 300 ms windows; the deadline (60 s) is far beyond the test, so only the floor
  // can cut. One test per address, so an address admitted again proves its own test was released.
  const { base, port } = await startSpeedTest(t, { maxRunning: 2, maxRunningPerIp: 1, minBytesPerSecond: 100_000, rateWindowMs: 300, maxMs: 60_000 });

  const stalled = stalledDownload(port, '127.0.0.2');
  const trickle = rawClient(port, 'POST /dandelion/speedtest/upload HTTP/1.1\r\nhost: x\r\ncontent-length: 10000000\r\n\r\n', '127.0.0.3');
  const dribble = setInterval(() => trickle.sock.write('x'.repeat(10)), 100);
  t.teardown(() => clearInterval(dribble));

  await new Promise((r) => setTimeout(r, 100));
  t.equal((await get(`${base}download?bytes=10`, '127.0.0.4')).status, 429, 'both slots are held');
  t.ok(await within(trickle.closed, 20_000), 'the upload that trickles is cut');
  t.notMatch(trickle.received(), /"BYTES"/, 'and never gets a result');
  clearInterval(dribble);

  // The paused client cannot see its cut until it reads again; the server's slot tells first.
  const admittedAgain = async (address: string): Promise<number> => {
    let status = 429;
    for (let i = 0; i < 200 && status === 429; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 100));
      status = (await get(`${base}download?bytes=10`, address)).status;
    }
    return status;
  };
  t.equal(await admittedAgain('127.0.0.2'), 200, 'the address of the download that was not read is admitted again');
  t.equal(await admittedAgain('127.0.0.3'), 200, 'so is the address of the upload that trickled');
  t.match(stalled.received(), /^HTTP\/1\.1 200/, 'the download had started');
  let received = 0;
  stalled.sock.on('data', (d: Buffer) => (received += d.length));
  stalled.sock.resume();
  t.ok(await within(stalled.closed, 20_000), 'the download that was not read had been cut');
  t.ok(received < MAX, `short of its length (${received} of ${MAX} bytes)`);

  // A client at full speed is not cut, whatever the window: 20 MiB over loopback, many windows long on a loaded machine or not.
  const big = await get(`${base}download?bytes=${20 * 1024 * 1024}`);
  t.equal(big.body.length, 20 * 1024 * 1024, 'a fast download completes');
});


t.test('while anonymous clients hold every anonymous slot, an enrolled box still gets one', async (t) => {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url });
  const { url } = entrance;
  const port = Number(new URL(url).port);
  const creds = await enrolledBox(redis.url, url, 'box-reserved');

  // Every anonymous slot, from addresses other than the box's own (127.0.0.1).
  const holders = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'].slice(0, SPEEDTEST_LIMITS.maxRunning).map((a) => stalledDownload(port, a));
  t.teardown(() => holders.forEach((h) => h.sock.destroy()));
  let stillOpen = true;
  void Promise.race(holders.map((h) => h.closed)).then(() => (stillOpen = false));
  const speedBase = url.replace(/^ws:/, 'http:').replace(/ws\/$/, 'speedtest/');
  let anon = await get(`${speedBase}download?bytes=10`, '127.0.0.6');
  for (let i = 0; i < 50 && anon.status === 200; i++) anon = await get(`${speedBase}download?bytes=10`, '127.0.0.6'); // until all holders are admitted
  t.equal(anon.status, 429, 'an anonymous client is refused: every anonymous slot is held');

  const measured = await measureCapacity(url, { bytes: 200_000, authHeaders: () => creds.upgradeHeaders(url) });
  t.ok(measured.downMbit > 0 && measured.upMbit > 0, 'the enrolled box measured both directions');
  t.ok(stillOpen, 'while the anonymous clients still held their slots');
  t.equal((await get(`${speedBase}download?bytes=10`, '127.0.0.6')).status, 429, 'and the anonymous clients did not get the reserved slot');

  // The same headers without a valid signature are refused, never taken for a box.
  const forged = { ...(await creds.upgradeHeaders(url)) } as Record<string, string>;
  forged[AUTH_HEADERS.signature] = 'AAAA';
  const refused = await get(`${speedBase}download?bytes=10`, '127.0.0.1', forged);
  t.equal(refused.status, 401, 'a bad signature: 401');
  t.equal(JSON.parse(refused.body.toString()).ERROR_CODE, 'E_AUTH');

  // Without credentials, the box is just another anonymous client: busy.
  const anonymousBox = await measureCapacity(url, { bytes: 1000 }).catch((err: unknown) => err);
  t.ok(anonymousBox instanceof SpeedTestError && anonymousBox.code === 'E_BUSY', 'without its key the box is refused like anyone else');
});
