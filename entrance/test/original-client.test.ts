// A client written against the original README still works: it opens a new socket per heartbeat,
// sends readings as strings (as the original's Redis-backed box did) with traffic records, and a
// publisher SEARCHes and reads BOX_SET keyed by box ID.
import t from 'tap';
import { WebSocket } from 'ws';
import { startRedis } from '../../test/helpers/redis.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { ORIGINAL_PUBLISHERS } from '../../test/helpers/messages.js';

function once(url: string, msg: unknown): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('open', () => ws.send(JSON.stringify(msg)));
    ws.on('message', (data) => {
      resolve(JSON.parse(data.toString()) as Record<string, unknown>);
      ws.close();
    });
    ws.on('error', reject);
  });
}

t.test('original-style box and publisher', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startEntrance(t, { redisUrl: redis.url, env: { ...ORIGINAL_PUBLISHERS, DANDELION_ENTRANCE_OTHER_URLS: 'ws://10.0.0.2:7071/dandelion/ws/' } });
  const box = 'box-0123456789abcdef0123456789abcdef';
  const exchange = {
    ID: box, IP: '127.0.0.1', PORT: '7071', TYPE: 'BOX', COMMAND: 'EXCHANGE',
    CONNECT_WS: `ws://127.0.0.1:7071/dandelion/${box}/ws/`,
    'CPU-HZ': '1200000000', 'CPU-NUM': '4', 'CPU-USR': '3.5', 'CPU-SYS': '1.0', 'CPU-NIC': '0.0', 'CPU-IDLE': '95.5',
    'CPU-IO': '0.0', 'CPU-IRQ': '0.0', 'CPU-SIRQ': '0.0', 'LOADAVG-1': '0.1', 'LOADAVG-5': '0.2', 'LOADAVG-15': '0.3',
    'MEM-TOTAL': '1024000000', 'MEM-AVAIL': '512000000', 'DISK-TOTAL': '32', 'DISK-AVAIL': '20',
    [`${box}:TRAFFIC_FLOW:log-5b0c8c5e`]: { datetime: '27/Sep/2017:03:20:10', url: '/publisher-1/seg1.ts', status: '200', size: '1024' },
  };
  for (let beat = 0; beat < 3; beat++) {
    const reply = await once(url, exchange);
    t.equal(reply.MESSAGE, 'ACCEPTED', `heartbeat ${beat} on a fresh socket`);
    t.same(reply.ENTRANCE_URLS, [url, 'ws://10.0.0.2:7071/dandelion/ws/'], 'own URL first, then ENTRANCE_OTHER_URLS');
  }
  const search = await once(url, { ID: 'publisher-abc', IP: '127.0.0.1', TYPE: 'PUBLISHER', COMMAND: 'SEARCH' });
  t.equal(search.COMMAND, 'SEARCH');
  t.equal(search.TYPE, 'ENTRANCE');
  const set = search.BOX_SET as Record<string, Record<string, unknown>>;
  t.same(Object.keys(set), [box]);
  t.equal(set[box]?.CONNECT_WS, exchange.CONNECT_WS);
  t.equal(set[box]?.['DISK-AVAIL'], 20, 'capacity readings come back as numbers');
  t.equal(set[box]?.['MEM-AVAIL'], undefined, 'readings a publisher does not need stay at the entrance');
});

t.test('ENTRANCE_URLS added to the Redis set at run time are told to peers', async (t) => {
  const redis = await startRedis(t);
  const { url, id, entrance } = await startEntrance(t, { redisUrl: redis.url, env: ORIGINAL_PUBLISHERS });
  await redis.client().sadd(`${id}:ENTRANCE_URLS`, 'wss://entrance-2.example/dandelion/ws/');
  await entrance.tick();
  const reply = await once(url, { ID: 'publisher-abc', IP: '127.0.0.1', TYPE: 'PUBLISHER', COMMAND: 'SEARCH' });
  t.same(reply.ENTRANCE_URLS, [url, 'wss://entrance-2.example/dandelion/ws/']);
  const own = await redis.client().hgetall(`${id}:OWN_INFO`);
  t.equal(own.ID, id);
  t.equal(own.URL, url);
});
