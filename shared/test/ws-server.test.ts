// The WebSocket edge on real sockets over loopback: replies come back in the order asked even when the
// first is the slowest to handle; a malformed message gets ERROR + ERROR_CODE and the close code; a
// failing handler gets E_INTERNAL and the socket stays open; a socket over its byte budget is closed
// with 1013 and its frame never reaches the handler; keepAlive cuts a peer that never answers a ping;
// closeAll says 1001 to everyone, then cuts whoever does not answer.
import { setTimeout as sleep } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { WebSocketServer } from 'ws';
import { ByteBudget, FRAMES_IN_FLIGHT, wireBytes } from '../src/byte-budget.js';
import { silentLogger } from '../src/log.js';
import { Close, ProtocolError } from '../src/protocol/index.js';
import type { Decoded, Envelope } from '../src/protocol/index.js';
import { attachMessageLoop, closeAll, keepAlive } from '../src/ws-server.js';
import type { MessageLoop, PeerContext } from '../src/ws-server.js';
import { connectRaw } from '../../test/helpers/raw-ws.js';
import { connectPeer } from '../../test/helpers/ws-client.js';

const OWN: Envelope = { ID: 'entrance-test', IP: '127.0.0.1', PORT: 1, TYPE: 'ENTRANCE' };

function publish(id: string): Record<string, unknown> {
  return { ID: id, IP: '127.0.0.1', TYPE: 'PUBLISHER', COMMAND: 'PUBLISH' };
}

interface Harness {
  url: string;
  wss: WebSocketServer;
  budget: ByteBudget;
  refused: string[];
  handled: string[];
}

type LoopHooks = Partial<Pick<MessageLoop, 'onMessage' | 'onBinary'>> & { budget?: ByteBudget; keepAliveMs?: number };

/** A WebSocketServer on a free loopback port whose sockets run attachMessageLoop; stopped when the test ends. */
async function serve(t: { teardown(fn: () => unknown): void }, hooks: LoopHooks = {}): Promise<Harness> {
  const budget = hooks.budget ?? new ByteBudget({ totalBytes: 1 << 20, socketBytes: 1 << 18, framesInFlight: FRAMES_IN_FLIGHT });
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 1 << 16 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const stopKeepAlive = hooks.keepAliveMs === undefined ? undefined : keepAlive(wss, hooks.keepAliveMs);
  const h: Harness = { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`, wss, budget, refused: [], handled: [] };
  wss.on('connection', (ws, req) => {
    const loop: MessageLoop = {
      own: () => OWN,
      log: silentLogger(),
      budget,
      onRefused: (code) => h.refused.push(code),
      onMessage:
        hooks.onMessage ??
        (async (decoded: Decoded) => {
          h.handled.push(decoded.msg.ID);
          return { ...OWN, ECHO: decoded.msg.ID } as Envelope;
        }),
    };
    if (hooks.onBinary) loop.onBinary = hooks.onBinary;
    attachMessageLoop(ws, req.socket.remoteAddress ?? '', loop);
  });
  t.teardown(async () => {
    stopKeepAlive?.();
    for (const ws of wss.clients) ws.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });
  return h;
}

t.test('replies come back in the order the messages were sent, even when the first is the slowest', async (t) => {
  const delays: Record<string, number> = { 'publisher-a': 150, 'publisher-b': 0, 'publisher-c': 40, 'publisher-d': 0 };
  const started: string[] = [];
  let running = 0;
  let mostAtOnce = 0;
  const h = await serve(t, {
    async onMessage(decoded) {
      started.push(decoded.msg.ID);
      running += 1;
      mostAtOnce = Math.max(mostAtOnce, running);
      await sleep(delays[decoded.msg.ID] ?? 0);
      running -= 1;
      return { ...OWN, ECHO: decoded.msg.ID } as Envelope;
    },
  });
  const peer = await connectPeer(h.url);
  t.teardown(() => peer.close());
  for (const id of Object.keys(delays)) peer.send(publish(id));
  const replies = [await peer.next(), await peer.next(), await peer.next(), await peer.next()];
  t.same(replies.map((r) => r.ECHO), Object.keys(delays), 'replies in the order asked');
  t.same(started, Object.keys(delays), 'handled in the order received');
  t.equal(mostAtOnce, 1, 'one frame of a socket is handled at a time');
  t.match(replies[0], { ID: OWN.ID, TYPE: 'ENTRANCE' }, 'the reply is what the handler returned');
  t.equal(h.budget.heldBytes, 0, 'every handled frame gave its bytes back');
});

t.test('a malformed message gets ERROR and ERROR_CODE with the receiver\'s own info, then the close code', async (t) => {
  const cases: Array<{ send: string; code: string; close: number }> = [
    { send: 'not json at all', code: 'E_FORMAT', close: Close.PROTOCOL },
    { send: JSON.stringify({ ...publish('nobody-1') }), code: 'E_ID', close: Close.PROTOCOL },
    { send: JSON.stringify({ ...publish('publisher-1'), COMMAND: 'DANCE' }), code: 'E_COMMAND', close: Close.PROTOCOL },
  ];
  for (const c of cases) {
    const h = await serve(t);
    const peer = await connectPeer(h.url);
    peer.sendRaw(c.send);
    const reply = await peer.next();
    t.equal(reply.ERROR_CODE, c.code, `${c.code}: coded`);
    t.match(reply.ERROR, /^Wrong format in your message: /, `${c.code}: the original's ERROR text`);
    t.match(reply, { ID: OWN.ID, IP: OWN.IP, PORT: OWN.PORT, TYPE: OWN.TYPE }, `${c.code}: the receiver's own info`);
    t.same(await peer.closed, { code: c.close, reason: c.code }, `${c.code}: closed with ${c.close} and the code as reason`);
    t.same(h.handled, [], `${c.code}: the handler never saw it`);
    t.same(h.refused, [c.code], `${c.code}: counted once`);
  }
});

t.test('a binary frame where only text is taken is refused with E_BINARY and 1003; with onBinary it is handled', async (t) => {
  const textOnly = await serve(t);
  const peer = await connectPeer(textOnly.url);
  peer.sendRaw(Buffer.from([1, 2, 3]), true);
  t.equal((await peer.next()).ERROR_CODE, 'E_BINARY');
  t.equal((await peer.closed).code, Close.UNSUPPORTED_DATA);

  const seen: number[] = [];
  const binary = await serve(t, {
    async onBinary(data: Buffer) {
      seen.push(data.length);
      return { ...OWN, LENGTH: data.length } as Envelope;
    },
  });
  const uploader = await connectPeer(binary.url);
  t.teardown(() => uploader.close());
  uploader.sendRaw(Buffer.alloc(1000, 7), true);
  t.equal((await uploader.next()).LENGTH, 1000);
  t.same(seen, [1000]);
});

t.test('a handler that fails costs its one message an E_INTERNAL reply; the socket stays open', async (t) => {
  const h = await serve(t, {
    async onMessage(decoded, peer: PeerContext) {
      if (decoded.msg.ID === 'publisher-throws') throw new Error('redis went away');
      if (decoded.msg.ID === 'publisher-throws-sync') throw new TypeError('undefined is not a function');
      return { ...OWN, ECHO: decoded.msg.ID, PEER: peer.remoteIp } as Envelope;
    },
  });
  const peer = await connectPeer(h.url);
  t.teardown(() => peer.close());
  const failed = await peer.ask(publish('publisher-throws'));
  t.equal(failed.ERROR_CODE, 'E_INTERNAL');
  t.match(failed.ERROR, /^Internal error: /, 'says it was the receiver, not the message');
  t.notMatch(failed.ERROR, /redis went away/, 'the internal failure is not shown to the peer');
  t.equal((await peer.ask(publish('publisher-throws-sync'))).ERROR_CODE, 'E_INTERNAL');
  const after = await peer.ask(publish('publisher-ok'));
  t.equal(after.ECHO, 'publisher-ok', 'the next message on the same socket is answered');
  t.equal(after.PEER, '127.0.0.1', 'the handler is told the peer\'s address');
  t.equal(peer.ws.readyState, peer.ws.OPEN, 'still open');
  t.same(h.refused, ['E_INTERNAL', 'E_INTERNAL']);
});

t.test('a ProtocolError thrown by the handler closes with its own close code', async (t) => {
  const h = await serve(t, {
    async onMessage() {
      throw new ProtocolError('E_AUTH', 'prove your key first', Close.AUTH);
    },
  });
  const peer = await connectPeer(h.url);
  t.equal((await peer.ask(publish('publisher-x'))).ERROR_CODE, 'E_AUTH');
  t.same(await peer.closed, { code: Close.AUTH, reason: 'E_AUTH' });
});

t.test('a socket over its byte budget is closed with 1013; its frame never reaches the handler; the bytes come back', async (t) => {
  const budget = new ByteBudget({ totalBytes: 1 << 20, socketBytes: 2_000, framesInFlight: FRAMES_IN_FLIGHT });
  const h = await serve(t, { budget });
  const bystander = await connectPeer(h.url);
  t.teardown(() => bystander.close());
  t.equal((await bystander.ask(publish('publisher-bystander'))).ECHO, 'publisher-bystander');

  const greedy = await connectPeer(h.url);
  greedy.sendRaw(JSON.stringify({ ...publish('publisher-greedy'), PAD: 'x'.repeat(5_000) }));
  const closed = await greedy.closed;
  t.equal(closed.code, Close.TRY_AGAIN_LATER, 'closed with 1013');
  t.match(closed.reason, /2000 bytes/, 'the reason names the limit');
  t.same(h.refused, ['E_BUSY']);
  t.notOk(h.handled.includes('publisher-greedy'), 'the oversized frame was dropped, not handled');
  t.equal((await bystander.ask(publish('publisher-bystander'))).ECHO, 'publisher-bystander', 'another socket is untouched');
  t.equal(budget.heldBytes, 0, 'nothing is left held');
});

t.test('a socket with more frames in flight than allowed is closed with 1013', async (t) => {
  const budget = new ByteBudget({ totalBytes: 1 << 20, socketBytes: 1 << 18, framesInFlight: 3 });
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const h = await serve(t, {
    budget,
    async onMessage(decoded) {
      h.handled.push(decoded.msg.ID);
      await gate;
      return { ...OWN, ECHO: decoded.msg.ID } as Envelope;
    },
  });
  const raw = await connectRaw(h.url);
  t.teardown(() => raw.close());
  for (let i = 0; i < 6; i++) raw.sendText(JSON.stringify(publish(`publisher-${i}`)));
  const closed = await raw.closed;
  release();
  t.equal(closed.code, Close.TRY_AGAIN_LATER);
  t.match(closed.reason, /more than 3 frames/);
  t.same(h.handled, ['publisher-0'], 'only the frame already being handled ran; the queued ones were dropped');
  await sleep(20);
  t.equal(budget.heldBytes, 0, 'the bytes came back once that frame was done');
  t.equal(wireBytes(0), 6, 'a frame costs at least its header');
});

t.test('keepAlive terminates a peer that never answers a ping and keeps one that does', async (t) => {
  const h = await serve(t, { keepAliveMs: 150 });
  const silent = await connectRaw(h.url); // written by hand: it never sends a pong
  t.teardown(() => silent.close());
  const healthy = await connectPeer(h.url); // ws answers every ping
  t.teardown(() => healthy.close());
  const closed = await silent.closed;
  t.equal(closed.code, 1006, 'cut without a close frame');
  await sleep(600);
  t.equal(healthy.ws.readyState, healthy.ws.OPEN, 'the peer that answers pings is still connected');
  t.equal((await healthy.ask(publish('publisher-alive'))).ECHO, 'publisher-alive');
  t.equal(h.wss.clients.size, 1);
});

t.test('closeAll closes every peer with 1001, then cuts the ones that do not answer', async (t) => {
  const h = await serve(t);
  const polite = [await connectPeer(h.url), await connectPeer(h.url)];
  const deaf = await connectRaw(h.url); // never answers a close frame
  t.teardown(() => deaf.close());
  const graceMs = 400;
  const began = Date.now();
  await closeAll(h.wss, 'entrance shutting down', graceMs);
  const took = Date.now() - began;
  for (const peer of polite) t.same(await peer.closed, { code: Close.GOING_AWAY, reason: 'entrance shutting down' });
  t.same(await deaf.closed, { code: Close.GOING_AWAY, reason: 'entrance shutting down' }, 'the deaf peer was told too, then cut');
  t.ok(took >= graceMs - 50, `waited the grace period for the deaf peer (${took} ms)`);
  t.ok(took < 10_000, 'and did not wait for ws\'s own 30 s close timeout');
  for (let i = 0; i < 100 && h.wss.clients.size > 0; i++) await sleep(20); // the cut socket's close event comes a tick later
  t.equal(h.wss.clients.size, 0, 'no client left');
  await t.rejects(connectPeer(h.url), 'the server no longer accepts');
});

t.test('closeAll returns at once when every peer answers', async (t) => {
  const h = await serve(t);
  const peer = await connectPeer(h.url);
  const began = Date.now();
  await closeAll(h.wss, 'bye', 20_000);
  t.ok(Date.now() - began < 10_000, 'did not wait out the grace period');
  t.same(await peer.closed, { code: Close.GOING_AWAY, reason: 'bye' });
});
