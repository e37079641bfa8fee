// A message loop with pipelineBinary on real sockets over loopback: binary frames sent without waiting
// are handled side by side (the second starts while the first is still running), their replies still
// come back in the order sent even when the first finishes last, and a text frame waits for every frame
// before it to be answered and is handled alone.
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { eventually } from '../../test/helpers/agent.js';
import { WebSocketServer } from 'ws';
import { ByteBudget, FRAMES_IN_FLIGHT } from '../src/byte-budget.js';
import { silentLogger } from '../src/log.js';
import type { Envelope } from '../src/protocol/index.js';
import { attachMessageLoop } from '../src/ws-server.js';
import type { MessageLoop } from '../src/ws-server.js';
import { connectPeer } from '../../test/helpers/ws-client.js';

const OWN: Envelope = { ID: 'box-pipe', IP: '127.0.0.1', PORT: 1, TYPE: 'BOX' };

/** A promise the test settles by hand. */
function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

async function serve(t: { teardown(fn: () => unknown): void }, hooks: Pick<MessageLoop, 'onMessage' | 'onBinary'>): Promise<string> {
  const budget = new ByteBudget({ totalBytes: 1 << 20, socketBytes: 1 << 18, framesInFlight: FRAMES_IN_FLIGHT });
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 1 << 16 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  wss.on('connection', (ws, req) => {
    attachMessageLoop(ws, req.socket.remoteAddress ?? '', { own: () => OWN, log: silentLogger(), budget, pipelineBinary: true, ...hooks });
  });
  t.teardown(async () => {
    for (const ws of wss.clients) ws.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });
  return `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`;
}


t.test('binary frames are handled side by side and answered in the order sent', async (t) => {
  const release = new Map<string, ReturnType<typeof deferred>>();
  const started: string[] = [];
  const finished: string[] = [];
  const url = await serve(t, {
    async onMessage(decoded) {
      started.push(`text ${decoded.msg.ID}`);
      return { ...OWN, ECHO: decoded.msg.ID } as Envelope;
    },
    async onBinary(data) {
      const name = data.toString();
      started.push(name);
      const gate = deferred();
      release.set(name, gate);
      await gate.promise;
      finished.push(name);
      return { ...OWN, ECHO: name } as Envelope;
    },
  });
  const peer = await connectPeer(url);
  t.teardown(() => peer.close());
  for (const name of ['one', 'two', 'three']) peer.sendRaw(Buffer.from(name), true);
  peer.send({ ID: 'publisher-after', IP: '127.0.0.1', TYPE: 'PUBLISHER', COMMAND: 'PUBLISH' });
  t.ok(await eventually(() => started.length === 3), 'all three binary frames started before any was answered');
  t.same(started, ['one', 'two', 'three'], 'started in the order sent; the text frame has not started');

  release.get('three')?.resolve();
  release.get('two')?.resolve();
  t.ok(await eventually(() => finished.length === 2), 'the later frames finished first');
  t.same(started, ['one', 'two', 'three'], 'the text frame still waits for the first binary frame');
  release.get('one')?.resolve();

  const replies = [await peer.next(), await peer.next(), await peer.next(), await peer.next()];
  t.same(replies.map((r) => r.ECHO), ['one', 'two', 'three', 'publisher-after'], 'replies in the order the frames were sent');
  t.same(finished, ['three', 'two', 'one'], 'whatever order they finished in');
  t.same(started.at(-1), 'text publisher-after', 'the text frame was handled after every binary frame before it');
});
