// A viewer that goes away while the origin opens its file (a browser tab closed, a player that gave up
// on a slow segment) must not leave the file open: the publisher answers for hours, and a descriptor
// left to the garbage collector is one more per aborted request until it runs (Node warns DEP0137).
import { readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { startRedis } from '../../test/helpers/redis.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { startPublisher } from '../../test/helpers/publisher.js';

/** Descriptors of this process (the publisher runs in it) open on `file`. */
function descriptorsOn(file: string): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(path.join('/proc/self/fd', fd)) === file) n += 1;
    } catch {
      /* intentional: the descriptor closed while we listed them */
    }
  }
  return n;
}

/** A GET whose socket is closed as soon as the request is written, before any answer. */
function abortedGet(port: number, target: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.end(`GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`, () => socket.destroy());
    });
    socket.on('close', () => resolve());
    socket.on('error', () => resolve());
  });
}

t.test('requests aborted while the origin opens or sends a file leave no descriptor open', async (t) => {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url });
  const pub = await startPublisher(t, { redisUrl: redis.url, entranceUrls: [entrance.url] });
  const port = Number(new URL(pub.base).port);
  const file = path.join(pub.watchDirectory, 'aborted.ts');
  // Bigger than the socket buffers, so an answer in flight is cut off too.
  writeFileSync(file, Buffer.alloc(8 * 1024 * 1024, 7));

  const answered = await fetch(`${pub.base}/origin/aborted.ts`);
  t.equal(answered.status, 200, 'the file is served to a viewer that stays');
  t.equal((await answered.arrayBuffer()).byteLength, 8 * 1024 * 1024, 'whole');

  for (let round = 0; round < 10; round += 1) {
    await Promise.all(Array.from({ length: 20 }, () => abortedGet(port, '/origin/aborted.ts')));
  }
  // Let the publisher notice the closed sockets and finish what it started.
  let open = descriptorsOn(file);
  for (let waited = 0; open > 0 && waited < 5_000; waited += 100) {
    await new Promise((r) => setTimeout(r, 100));
    open = descriptorsOn(file);
  }
  t.equal(open, 0, `no descriptor left open on the file after 200 aborted requests (${open} open)`);
});
