// The dashboard's server-sent events hub: a subscriber gets the stream headers, the retry hint and its
// first events, then every published event; comment lines keep an idle stream alive; a subscriber that
// disconnects leaves the hub, one that stops reading is dropped once too much waits unsent, and close()
// ends every stream.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { createEventHub, formatEvent } from '../../src/dashboard/event-hub.js';
import type { EventHub, EventHubOptions } from '../../src/dashboard/event-hub.js';

async function serveHub(t: Test, opts: EventHubOptions): Promise<{ hub: EventHub; url: string }> {
  const hub = createEventHub(opts);
  const server = http.createServer((_req, res) => hub.subscribe(res, { headers: { 'x-policy': 'kept' }, first: [{ event: 'hello', data: { N: 1 } }] }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    hub.close();
    server.closeAllConnections();
    server.close();
  });
  return { hub, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}

/** A stream reader: `until(text)` resolves once everything received so far includes `text`. */
function open(url: string): Promise<{ res: http.IncomingMessage; until(text: string): Promise<string>; ended: Promise<void> }> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      let received = '';
      const waiters: Array<() => void> = [];
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        received += d;
        for (const w of waiters.splice(0)) w();
      });
      const ended = new Promise<void>((r) => res.once('close', () => r()));
      res.on('error', () => undefined); // intentional: a dropped stream is what some tests wait for
      const until = (text: string): Promise<string> =>
        new Promise((r) => {
          const check = (): void => (received.includes(text) ? r(received) : void waiters.push(check));
          check();
        });
      resolve({ res, until, ended });
    }).on('error', reject);
  });
}

const eventually = async (check: () => boolean): Promise<boolean> => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 25));
  return check();
};

t.test('formatEvent: a name and one line of JSON', async (t) => {
  t.equal(formatEvent({ event: 'summary', data: { A: 1 } }), 'event: summary\ndata: {"A":1}\n\n');
});

t.test('subscribe, publish, heartbeat, disconnect', async (t) => {
  const { hub, url } = await serveHub(t, { heartbeatMs: 50, retryMs: 1234 });
  const a = await open(url);
  t.equal(a.res.headers['content-type'], 'text/event-stream');
  t.equal(a.res.headers['cache-control'], 'no-store');
  t.equal(a.res.headers['x-policy'], 'kept', "the caller's headers go out with the stream");
  t.match(await a.until('\n\n'), /^retry: 1234\nevent: hello\ndata: \{"N":1\}\n\n/, 'the retry hint, then the first events');
  t.ok(await eventually(() => hub.size === 1), 'one subscriber');

  const b = await open(url);
  await b.until('hello');
  hub.publish([{ event: 'summary', data: { X: 2 } }, { event: 'boxes', data: { CHANGED: ['box-1'] } }]);
  for (const s of [a, b]) t.match(await s.until('box-1'), /event: summary\ndata: \{"X":2\}\n\nevent: boxes\ndata: \{"CHANGED":\["box-1"\]\}\n\n/, 'every subscriber gets every event');
  t.match(await a.until(': keep-alive\n\n'), /: keep-alive\n\n/, 'an idle stream gets comment lines');

  b.res.destroy();
  t.ok(await eventually(() => hub.size === 1), 'a subscriber that went away left the hub');
  hub.close();
  await a.ended;
  t.equal(hub.size, 0, 'close() ends every stream');
});

t.test('a subscriber that stops reading is dropped once too much waits unsent', async (t) => {
  const { hub, url } = await serveHub(t, { heartbeatMs: 60_000, maxBufferedBytes: 64 * 1024 });
  const slow = await open(url);
  await slow.until('hello');
  slow.res.pause();
  const big = { event: 'summary', data: { PAD: 'x'.repeat(64 * 1024) } };
  // The kernel's socket buffers take the first megabytes; past them the hub's limit is met.
  t.ok(await eventually(() => {
    hub.publish([big]);
    return hub.size === 0;
  }), 'dropped');
  slow.res.resume(); // a paused client would not read as far as the end of its stream
  await slow.ended;
});
