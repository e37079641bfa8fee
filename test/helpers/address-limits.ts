/**
 * The per-address WebSocket limits, checked the same way at the entrance and at the box: the server under
 * test must run with MAX_SOCKETS_PER_IP 3 and MAX_HANDSHAKES_PER_SECOND_PER_IP 5. `valid` is a message
 * the server accepts (MESSAGE: ACCEPTED) from an open socket.
 */
import type { Test } from 'tap';
import { connectPeer } from './ws-client.js';
import { tryUpgrade } from './raw-ws.js';

export const LIMITS_ENV = { DANDELION_MAX_SOCKETS_PER_IP: '3', DANDELION_MAX_HANDSHAKES_PER_SECOND_PER_IP: '5' };


const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function checkAddressLimits(t: Test, url: string, valid: unknown): Promise<void> {
  // 30 at once: even if a loaded machine spreads them over three seconds, at most 20 fit the rate.
  const answers = await Promise.all(Array.from({ length: 30 }, () => tryUpgrade(url)));
  const refused = answers.filter((a) => a.status === 429);
  const rateRefusals = refused.filter((a) => 'body' in a && /E_RATE/.test(a.body));
  t.ok(answers.filter((a) => a.status === 101).length >= 3, 'a burst of one second\'s worth is let through');
  t.ok(refused.length >= 10, `the rest of a burst of 30 handshakes is refused (${refused.length} were)`);
  const first = rateRefusals[0];
  t.match(JSON.parse(first && 'body' in first ? first.body : '{}'), { ERROR: /handshakes/, ERROR_CODE: 'E_RATE' }, 'with 429 E_RATE');
  t.match(first?.headers['retry-after'], /^\d+$/, 'and Retry-After');
  // Let the bucket refill before counting sockets.
  await sleep(1200);

  const open = await Promise.all([1, 2, 3].map(() => connectPeer(url)));
  const fourth = await tryUpgrade(url);
  t.equal(fourth.status, 429, 'a fourth socket from the same address is refused with 429');
  t.match(JSON.parse('body' in fourth ? fourth.body : '{}'), { ERROR: /sockets/, ERROR_CODE: 'E_BUSY' }, 'with a JSON body saying why');
  t.equal((await open[0]?.ask(valid))?.MESSAGE, 'ACCEPTED', 'the open ones are unaffected');
  await open[0]?.close();
  await sleep(300);
  let again = await tryUpgrade(url, { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits' });
  for (let i = 0; i < 20 && again.status !== 101; i++) again = await sleep(250).then(() => tryUpgrade(url));
  t.equal(again.status, 101, 'a closed socket frees its place');
  t.equal(again.headers['sec-websocket-extensions'], undefined, 'permessage-deflate is declined: no compressed frames to inflate');
  await Promise.all(open.map((p) => p.close()));
}
