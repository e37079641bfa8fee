// A box agent registers with a real entrance with every field the original sent plus the
// extensions (PORT_MAPPING, LAN_IP among them), keeps one socket with a heartbeat per period, and stores its own exchange.
import t from 'tap';
import { startRedis } from '../../test/helpers/redis.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { eventually, startAgent } from '../../test/helpers/agent.js';
import { connectPeer } from '../../test/helpers/ws-client.js';
import { ORIGINAL_PUBLISHERS, searchRequest } from '../../test/helpers/messages.js';

t.test('registration with all fields', async (t) => {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: ORIGINAL_PUBLISHERS });
  const box = await startAgent(t, {
    redisUrl: redis.url,
    entranceUrls: [entrance.url],
    env: { DANDELION_GEOIP: JSON.stringify({ CITY: 'Hsinchu', COUNTRY: 'TW', LOC: '24.8,120.97' }) },
  });
  const r = redis.client();
  const key = `${entrance.id}:EXCHANGE:${box.boxId}`;
  // The second heartbeat carries CPU shares and the idle upload (both need two samples).
  const hash = await eventually(async () => {
    const h = await r.hgetall(key);
    return h['BANDWIDTH-IDLE-UP'] !== undefined && h['CPU-USR'] !== undefined ? h : undefined;
  });
  t.ok(hash, 'stored by the entrance');
  if (!hash) return;
  t.equal(hash.TYPE, 'BOX');
  t.equal(hash.COMMAND, 'EXCHANGE');
  t.equal(hash.CONNECT_WS, `ws://127.0.0.1:${box.status.boxPort}/dandelion/${box.boxId}/ws/`);
  for (const k of ['CPU-NUM', 'CPU-USR', 'CPU-SYS', 'CPU-NIC', 'CPU-IDLE', 'CPU-IO', 'CPU-IRQ', 'CPU-SIRQ', 'LOADAVG-1', 'LOADAVG-5', 'LOADAVG-15', 'MEM-TOTAL', 'MEM-AVAIL', 'DISK-TOTAL', 'DISK-AVAIL', 'NET-RX-BYTES', 'NET-TX-BYTES', 'UPTIME', 'FILES-HELD', 'DISK-WRITE-BYTES', 'AGENT-WRITE-BYTES', 'BANDWIDTH-UP', 'BANDWIDTH-DOWN', 'BANDWIDTH-IDLE-UP', 'SERVE-ERRORS', 'AGENT-ERRORS', 'AGENT-UPTIME']) {
    t.ok(hash[k] !== undefined && Number.isFinite(Number(hash[k])), `${k} is a number (${hash[k]})`);
  }
  t.equal(hash['BANDWIDTH-UP'], '100');
  t.equal(hash['BANDWIDTH-DOWN'], '500');
  t.ok(Number(hash['BANDWIDTH-IDLE-UP']) <= 100, 'idle upload never above capacity');
  t.match(hash.VERSION, /^\d+\.\d+\.\d+/);
  t.equal(hash.PUBLIC_IP, '127.0.0.1');
  t.equal(hash.PORT_MAPPING, 'off', 'a box bound to loopback maps nothing');
  t.equal(hash.LAN_IP, '127.0.0.1', 'the box\'s own address on its entrance socket');
  t.same(JSON.parse(hash.GEOIP ?? '{}'), { CITY: 'Hsinchu', COUNTRY: 'TW', LOC: '24.8,120.97' }, 'a private address reports the configured GEOIP unchanged');
  const self = await r.hgetall(`${box.boxId}:SELF_EXCHANGE`);
  t.equal(self.CONNECT_WS, hash.CONNECT_WS, 'the box keeps its own exchange in {ID}:SELF_EXCHANGE');

  // Heartbeats keep coming on the one socket: the expiry score moves forward.
  const first = Number(await r.zscore(`${entrance.id}:BOX_SET`, box.boxId));
  t.ok(await eventually(async () => Number(await r.zscore(`${entrance.id}:BOX_SET`, box.boxId)) > first), 'heartbeat refreshes the registry');

  const publisher = await connectPeer(entrance.url);
  t.teardown(() => publisher.close());
  const found = (await publisher.ask(searchRequest())).BOX_SET as Record<string, Record<string, unknown>>;
  t.equal(found[box.boxId]?.CONNECT_WS, hash.CONNECT_WS, 'publishers find the box');
});
