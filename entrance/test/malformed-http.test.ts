// No request a stranger sends can stop an entrance: a request-target that cannot be parsed gets 400
// with a JSON {ERROR, ERROR_CODE: E_BAD_REQUEST}, on a plain request and on a WebSocket upgrade; a path
// starting with // (which `new URL` took for a host, and threw on) is a path nothing serves, 404; bytes
// that are no HTTP at all get the same; an upgrade to another path gets 404 with its ERROR_CODE; peers
// that reset their socket while the upgrade is being checked are forgotten; and afterwards the entrance
// still answers its index and a box's EXCHANGE. Broken percent-encoding in an API path is a 400.
import net from 'node:net';
import t from 'tap';
import { hashPassword } from '../../shared/src/password.js';
import { startRedis } from '../../test/helpers/redis.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { boxExchange } from '../../test/helpers/messages.js';
import { checkMalformedRefused, errorCodeOf, rawUpgrade, sendRaw } from '../../test/helpers/raw-http.js';
import { connectPeer } from '../../test/helpers/ws-client.js';

t.test('unparseable requests and upgrades are refused; the entrance goes on', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startEntrance(t, { redisUrl: redis.url });
  const port = Number(new URL(url).port);

  // Its 404s carry their ERROR_CODE, for a plain request and for an upgrade.
  await checkMalformedRefused(t, [{ name: 'ENTRANCE_PORT', port, requestNotFoundCode: 'E_NOT_FOUND', upgradeNotFoundCode: 'E_NOT_FOUND' }]);
  const elsewhere = await sendRaw(port, rawUpgrade('/somewhere/else/'));
  t.equal(elsewhere.status, 404, 'an upgrade to another path: 404');
  t.equal(errorCodeOf(elsewhere), 'E_NOT_FOUND', 'with its ERROR_CODE');

  // Upgrades that claim a box (so the entrance checks them in Redis) and reset at once.
  const wsPath = new URL(url).pathname;
  const claim = 'X-Dandelion-Box: box-reset\r\nX-Dandelion-Nonce: n\r\nX-Dandelion-Signature: s\r\n';
  await Promise.all(
    Array.from({ length: 20 }, () =>
      new Promise<void>((resolve) => {
        const s = net.connect({ host: '127.0.0.1', port }, () => {
          s.write(rawUpgrade(wsPath).replace('\r\n\r\n', `\r\n${claim}\r\n`), () => s.resetAndDestroy());
        });
        s.on('error', () => undefined); // intentional: this peer resets on purpose
        s.on('close', () => resolve());
      }),
    ),
  );

  const index = await fetch(url.replace(/^ws/, 'http').replace(/ws\/$/, ''));
  t.equal(index.status, 200, 'the index is still served');
  const box = await connectPeer(url);
  t.teardown(() => box.close());
  t.equal((await box.ask(boxExchange('box-after'))).MESSAGE, 'ACCEPTED', 'a box still registers');
});

t.test('broken percent-encoding in an API path is the client\'s 400, not a 500', async (t) => {
  const redis = await startRedis(t);
  const tokens = JSON.stringify([await hashPassword('script-token-456')]);
  const { url } = await startEntrance(t, { redisUrl: redis.url, env: { DANDELION_API_TOKENS: tokens } });
  const base = url.replace('ws:', 'http:').replace(/\/dandelion\/ws\/$/, '');
  const headers = { authorization: 'Bearer script-token-456' };
  for (const path of ['/api/boxes/%zz', '/api/boxes/%E0%A4%A/history']) {
    const res = await fetch(`${base}${path}`, { headers });
    t.equal(res.status, 400, `${path}: 400`);
    t.equal(((await res.json()) as { ERROR_CODE?: string }).ERROR_CODE, 'E_BAD_REQUEST', `${path}: with its ERROR_CODE`);
  }
  const forget = await fetch(`${base}/api/boxes/%zz/forget`, { method: 'POST', headers });
  t.equal(forget.status, 400, 'POST /api/boxes/%zz/forget: 400');
});
