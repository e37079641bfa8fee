// Memory at the box is bounded in bytes, not frames (issue 14): one publisher socket that queues 24
// frames of 40 MiB without waiting for replies is closed with 1013 before the agent holds more than
// MAX_FILE_MB plus a header for it; all sockets together hold at most MAX_BUFFERED_MB (the socket
// holding the most is closed when a peer would cross it); one address opens at most MAX_SOCKETS_PER_IP
// sockets and MAX_HANDSHAKES_PER_SECOND_PER_IP handshakes a second (429 with a JSON body); ws's
// permessage-deflate (a zip bomb's way in) is off. Meanwhile an ordinary publisher is served. The
// agent runs as its own process so its RSS (VmRSS) is its own; the figures are printed as comments.
import t from 'tap';
import { encodeFrame } from '../../shared/src/protocol/index.js';
import { startRedis } from '../../test/helpers/redis.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { ORIGINAL_PUBLISHERS } from '../../test/helpers/messages.js';
import { startAgent } from '../../test/helpers/agent.js';
import { LIMITS_ENV, checkAddressLimits } from '../../test/helpers/address-limits.js';
import { connectPeer } from '../../test/helpers/ws-client.js';
import type { TestPeer } from '../../test/helpers/ws-client.js';
import { connectRaw, preMasked } from '../../test/helpers/raw-ws.js';
import type { RawWs } from '../../test/helpers/raw-ws.js';
import { NODE_AGENT, rssMiB, startAgentProcess } from '../../bench/src/agent-process.js';

const MiB = 1024 * 1024;
const PUBLISH = { ID: 'publisher-honest', IP: '127.0.0.1', TYPE: 'PUBLISHER', COMMAND: 'PUBLISH' };
/** What the helpers below need of a tap test. */
interface Tap {
  teardown(fn: () => unknown): void;
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Samples a process's RSS every 25 ms until stopped; `peak` is the highest seen, in MiB. */
function sampleRss(pid: number): { peak: () => number; stop: () => number } {
  let peak = rssMiB(pid) ?? 0;
  const timer = setInterval(() => (peak = Math.max(peak, rssMiB(pid) ?? 0)), 25);
  return { peak: () => peak, stop: () => (clearInterval(timer), (peak = Math.max(peak, rssMiB(pid) ?? 0))) };
}

/** Resolves with the close, or with undefined when the socket is still open after `ms`. */
function closedWithin(raw: RawWs, ms: number): Promise<{ code: number; reason: string } | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  return Promise.race([raw.closed, late]).finally(() => clearTimeout(timer));
}

async function honestPublisher(t: Tap, connectWs: string): Promise<TestPeer> {
  const publisher = await connectPeer(connectWs);
  t.teardown(() => publisher.close());
  const hello = await publisher.ask(PUBLISH);
  if (hello.MESSAGE !== 'ACCEPTED') throw new Error(`PUBLISH refused: ${JSON.stringify(hello)}`);
  return publisher;
}

async function attacker(t: Tap, connectWs: string, id: string): Promise<RawWs> {
  const raw = await connectRaw(connectWs);
  t.teardown(() => raw.close());
  raw.sendText(JSON.stringify({ ...PUBLISH, ID: id }));
  const hello = await raw.nextText();
  if (JSON.parse(hello).MESSAGE !== 'ACCEPTED') throw new Error(`PUBLISH refused: ${hello}`);
  return raw;
}

// One box process for the two memory tests (idle measured before either), with the defaults that matter
// here: MAX_FILE_MB 50, so one socket may hold one 50 MiB frame and its header, and MAX_BUFFERED_MB 0,
// so all sockets together may hold 100 MiB. One in-process box for the per-address limits.
const redis = await startRedis(t);
// Its publishers send PUBLISH without a grant, as the original's do (grants: agent/test/trust/).
const entrance = await startEntrance(t, { redisUrl: redis.url, env: ORIGINAL_PUBLISHERS });
const box = await startAgentProcess(t, { command: NODE_AGENT, redisUrl: redis.url, entranceUrl: entrance.url, boxId: 'box-budgets', settings: { MAX_FILE_MB: '50', MAX_BUFFERED_MB: '0' } });
// Idle: after start-up settles (the heartbeat running), as the issue measured it.
await sleep(1500);
const idle = rssMiB(box.pid) ?? 0;

t.test('one socket queuing 24 frames of 40 MiB is closed with 1013; the box stays small', async (t) => {
  const publisher = await honestPublisher(t, box.connectWs);
  const flood = await attacker(t, box.connectWs, 'publisher-flood');

  const frame = preMasked(2, encodeFrame({ FILE_PATH: 'flood/seg.ts', TTL: 60 }, Buffer.alloc(40 * MiB, 7)));
  const rss = sampleRss(box.pid);
  const sent = flood.writeRepeatedly(frame, 24);
  const closed = await closedWithin(flood, 60_000);
  const framesWritten = await sent;
  t.equal(closed?.code, 1013, 'the flooding socket is closed with 1013 (try again later)');
  t.match(closed?.reason ?? '', /bytes/, 'and the reason says it held too many bytes');

  publisher.sendRaw(encodeFrame({ FILE_PATH: 'live/ok.ts' }, Buffer.alloc(256 * 1024, 1)), true);
  t.equal((await publisher.next()).MESSAGE, 'ACCEPTED', 'the ordinary publisher is still served');
  const peak = rss.stop();
  await sleep(1000);
  const after = rssMiB(box.pid) ?? 0;
  t.comment(`agent RSS: idle ${idle.toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB while one socket wrote ${framesWritten} of 24 frames of 40 MiB, ${after.toFixed(0)} MiB one second later (MAX_FILE_MB 50)`);
  t.ok(peak <= idle + 2 * 50 + 64, `peak RSS ${peak.toFixed(0)} MiB ≤ idle ${idle.toFixed(0)} + 2 × MAX_FILE_MB + 64 MiB of slack`);
  t.ok(framesWritten < 24, 'the flood was cut before all of it was read');
});

t.test('all sockets together hold at most MAX_BUFFERED_MB: the biggest holder is closed', async (t) => {
  // 100 MiB in all; three sockets each stop 35 MiB into a 45 MiB frame, the first a little further: the
  // third pushes the total past 100 MiB and the socket holding the most is closed.
  const publisher = await honestPublisher(t, box.connectWs);
  const frame = preMasked(2, encodeFrame({ FILE_PATH: 'slow/seg.ts' }, Buffer.alloc(45 * MiB, 3)));
  const rss = sampleRss(box.pid);
  const holders: RawWs[] = [];
  for (const n of [1, 2, 3]) {
    const raw = await attacker(t, box.connectWs, `publisher-slow${n}`);
    holders.push(raw);
    await raw.writeRepeatedly(frame.subarray(0, (n === 1 ? 36 : 35) * MiB), 1);
    // Let the box read it all before the next one starts, so which socket holds the most is known.
    await sleep(500);
  }
  const verdicts = await Promise.all(holders.map((raw) => closedWithin(raw, 3_000)));
  t.same(verdicts.map((v) => v?.code), [1013, undefined, undefined], 'the first (which held the most when the third crossed the line) is closed with 1013, the others keep sending');
  t.match(verdicts[0]?.reason ?? '', /held the most/, 'and the reason says why');
  publisher.sendRaw(encodeFrame({ FILE_PATH: 'live/ok.ts' }, Buffer.alloc(1 * MiB, 1)), true);
  t.equal((await publisher.next()).MESSAGE, 'ACCEPTED', 'the ordinary publisher is still served');
  const peak = rss.stop();
  t.comment(`agent RSS: idle ${idle.toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB with three sockets of 35 MiB unfinished frames (MAX_BUFFERED_MB 100)`);
  t.ok(peak <= idle + 100 + 64, `peak RSS ${peak.toFixed(0)} MiB ≤ idle ${idle.toFixed(0)} + MAX_BUFFERED_MB + 64 MiB of slack`);
});

t.test('sockets and handshakes per address; no permessage-deflate', async (t) => {
  const small = await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url], env: LIMITS_ENV });
  const url = small.status.connectWs;
  await checkAddressLimits(t, url, PUBLISH);
});
