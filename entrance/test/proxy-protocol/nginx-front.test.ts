// A real entrance behind a real nginx stream proxy with `proxy_protocol on` (Debian's nginx and its
// stream module, as deploy/nginx-cluster.conf runs it): a box connecting through the front from its
// own loopback address is told that address as PUBLIC_IP and counted by it in the per-address limits;
// a direct connection from an address that is not PROXY_PROTOCOL_FROM cannot name a client with a
// header of its own, and one from the front's address without a header is closed.
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { freePort } from '../../../shared/src/listen.js';
import { startEntrance } from '../../../test/helpers/entrance.js';
import { spawnNginx } from '../../../test/helpers/nginx-process.js';
import { boxExchange } from '../../../test/helpers/messages.js';
import { sendRaw, rawUpgrade } from '../../../test/helpers/raw-http.js';
import { startRedis } from '../../../test/helpers/redis.js';
import { connectPeer } from '../../../test/helpers/ws-client.js';

const STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

/** nginx's stream proxy on a free loopback port, to 127.0.0.1:`upstreamPort`, sending PROXY v1; its port. */
async function startStreamFront(t: { teardown(fn: () => unknown): void }, upstreamPort: number): Promise<number> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dandelion-front-'));
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  // As root, workers would run as "nobody"; the directive is ignored (with a warning) as anyone else.
  const user = process.getuid?.() === 0 ? 'user root;' : '';
  writeFileSync(conf, `${user}
load_module ${STREAM_MODULE};
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
stream {
  server {
    listen 127.0.0.1:${port};
    proxy_pass 127.0.0.1:${upstreamPort};
    proxy_protocol on;
  }
}
`);
  const { proc, stderr } = spawnNginx(t, dir, conf);
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) throw new Error(`nginx exited: ${stderr()}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) return port;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nginx did not listen on ${port}: ${stderr()}`);
}

t.test('through nginx with proxy_protocol on, the entrance sees each box\'s own address', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startEntrance(t, {
    redisUrl: redis.url,
    env: { DANDELION_PROXY_PROTOCOL_FROM: '["127.0.0.1"]', DANDELION_MAX_SOCKETS_PER_IP: '1' },
  });
  const entrancePort = Number(new URL(url).port);
  const frontPort = await startStreamFront(t, entrancePort);
  const viaFront = url.replace(`:${entrancePort}/`, `:${frontPort}/`);

  const box = await connectPeer(viaFront, { localAddress: '127.0.0.7' });
  t.teardown(() => box.close());
  const reply = await box.ask(boxExchange('box-behind-front'));
  t.equal(reply.MESSAGE, 'ACCEPTED');
  t.equal(reply.PUBLIC_IP, '127.0.0.7', 'the box\'s own address, not the front\'s');

  // MAX_SOCKETS_PER_IP 1 counts clients, not the front: a second socket from 127.0.0.7 is refused,
  // one from 127.0.0.8 is its own client.
  await t.rejects(connectPeer(viaFront, { localAddress: '127.0.0.7' }), /429/, 'the same client\'s second socket is over its limit');
  const other = await connectPeer(viaFront, { localAddress: '127.0.0.8' });
  t.teardown(() => other.close());
  t.equal((await other.ask(boxExchange('box-other'))).PUBLIC_IP, '127.0.0.8');

  // Straight to the entrance from an address that is not PROXY_PROTOCOL_FROM: its header is no header.
  const wsPath = new URL(url).pathname;
  const spoof = await new Promise<string>((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port: entrancePort, localAddress: '127.0.0.9' }, () => {
      s.write(`PROXY TCP4 203.0.113.66 127.0.0.1 4000 443\r\n${rawUpgrade(wsPath)}`);
    });
    let text = '';
    s.on('data', (d: Buffer) => (text += d.toString('latin1')));
    s.on('error', reject);
    s.on('close', () => resolve(text));
  });
  t.match(spoof, /^HTTP\/1.1 400/, 'a stranger\'s PROXY header is refused as malformed HTTP');
  t.notMatch(spoof, /101 Switching/, 'and no socket is opened');
  const stranger = await connectPeer(url, { localAddress: '127.0.0.9' });
  t.teardown(() => stranger.close());
  t.equal((await stranger.ask(boxExchange('box-direct'))).PUBLIC_IP, '127.0.0.9', 'a plain direct connection is its own address');

  // From the front's address without a header: closed, not served as the front.
  const noHeader = await sendRaw(entrancePort, rawUpgrade(wsPath));
  t.equal(noHeader.status, undefined, 'closed with no answer');
  t.equal(noHeader.text, '');
});
