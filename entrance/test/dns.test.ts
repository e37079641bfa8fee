/**
 * The entrance's DNS server for BOX_DOMAIN over real UDP and TCP: SOA and NS at the apex, A for a registered
 * box (following its address from the next heartbeat), TXT for a DNS-01 challenge from Redis, REFUSED for
 * other zones, names case-insensitive; hostile packets get FORMERR or nothing and never stop it.
 */
import t from 'tap';
import type { Test } from 'tap';
import type { Redis } from 'ioredis';
import dnsPacket from 'dns-packet';
import type { DecodedPacket } from 'dns-packet';
import { acmeKeys } from '../../shared/src/redis-keys.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { boxExchange } from '../../test/helpers/messages.js';
import { startRedis } from '../../test/helpers/redis.js';
import { connectPeer } from '../../test/helpers/ws-client.js';
import { queryBytes, tcpConnect, udpQuery, udpRaw } from '../../test/helpers/dns.js';
import { zoneNameServer } from '../../entrance/src/dns/answer.js';

const DOMAIN = 'boxes.test';

async function dnsEntrance(t: Test): Promise<{ port: number; url: string; redis: Redis }> {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: { DANDELION_BOX_DOMAIN: DOMAIN, DANDELION_DNS_BIND: '127.0.0.1', DANDELION_DNS_PORT: '0' } });
  if (entrance.dnsPort === undefined) throw new Error('no DNS port');
  return { port: entrance.dnsPort, url: entrance.url, redis: redis.client() };
}

/** Heartbeat as `boxId` from `localAddress`; resolves with the EXCHANGE reply. */
async function heartbeat(url: string, boxId: string, localAddress = '127.0.0.1'): Promise<Record<string, unknown>> {
  const peer = await connectPeer(url, { localAddress });
  const reply = await peer.ask(boxExchange(boxId));
  await peer.close();
  return reply;
}

/** The reply's RCODE by name (the typings leave it out of DecodedPacket, though the decoder sets it). */
const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];
const rcodeOf = (reply: Buffer | undefined): string | undefined => (reply === undefined ? undefined : RCODES[reply.readUInt16BE(2) & 0xf]);
const rcode = (p: DecodedPacket): string | undefined => RCODES[(p.flags ?? 0) & 0xf];
/** The first answer's TTL (Infinity when there is none, so a check for a low TTL fails). */
const ttlOf = (p: DecodedPacket): number => {
  const first = p.answers?.[0];
  return first !== undefined && 'ttl' in first && first.ttl !== undefined ? first.ttl : Infinity;
};
/** A TXT record's strings, joined. */
const textOf = (data: string | Buffer | Array<string | Buffer>): string => (Array.isArray(data) ? data : [data]).map(String).join('');

t.test('the apex holds SOA and NS; a registered box has an A record that follows its address', async (t) => {
  const { port, url } = await dnsEntrance(t);
  const soa = await udpQuery(port, DOMAIN, 'SOA');
  t.equal(rcode(soa), 'NOERROR');
  t.ok(soa.flag_aa, 'authoritative');
  t.notOk(soa.flag_ra, 'no recursion offered');
  t.equal(soa.answers?.[0]?.type, 'SOA');
  const ns = await udpQuery(port, DOMAIN, 'NS');
  t.same(ns.answers?.map((a) => a.type === 'NS' && a.data), [`ns.${DOMAIN}`]);

  t.equal(rcode(await udpQuery(port, `box-alpha.${DOMAIN}`, 'A')), 'NXDOMAIN', 'not registered yet: no name');
  t.equal((await heartbeat(url, 'box-alpha')).BOX_NAME, `box-alpha.${DOMAIN}`, 'the EXCHANGE reply tells the box its name');
  const a = await udpQuery(port, `box-alpha.${DOMAIN}`, 'A');
  t.equal(rcode(a), 'NOERROR');
  t.same(a.answers?.map((r) => r.type === 'A' && r.data), ['127.0.0.1']);
  t.ok(ttlOf(a) <= 60, 'a low TTL');
  const upper = await udpQuery(port, `BOX-Alpha.Boxes.TEST`, 'A');
  t.same(upper.answers?.map((r) => r.type === 'A' && r.data), ['127.0.0.1'], 'names are case-insensitive');

  await heartbeat(url, 'box-alpha', '127.0.0.2');
  const moved = await udpQuery(port, `box-alpha.${DOMAIN}`, 'A');
  t.same(moved.answers?.map((r) => r.type === 'A' && r.data), ['127.0.0.2'], 'the next heartbeat from another address moves the record');

  const aaaa = await udpQuery(port, `box-alpha.${DOMAIN}`, 'AAAA');
  t.equal(rcode(aaaa), 'NOERROR', 'an IPv4 box has the name but no AAAA');
  t.same(aaaa.answers, []);
  t.equal(aaaa.authorities?.[0]?.type, 'SOA', 'NODATA carries the SOA for negative caching');

  const tcp = await tcpConnect(port);
  tcp.send(queryBytes(`box-alpha.${DOMAIN}`, 'A'));
  const overTcp = await tcp.next();
  t.ok(overTcp, 'answered over TCP');
  if (overTcp) t.same(dnsPacket.decode(overTcp).answers?.map((r) => r.type === 'A' && r.data), ['127.0.0.2']);
  tcp.close();
});

t.test('box IDs that are not lowercase DNS labels get no name', async (t) => {
  const { port, url } = await dnsEntrance(t);
  const reply = await heartbeat(url, 'box-Upper_Case');
  t.equal(reply.MESSAGE, 'ACCEPTED');
  t.notOk('BOX_NAME' in reply, 'no BOX_NAME');
  t.equal(rcode(await udpQuery(port, `box-upper_case.${DOMAIN}`, 'A')), 'NXDOMAIN');
  t.equal(rcode(await udpQuery(port, `box-upper-case.${DOMAIN}`, 'A')), 'NXDOMAIN');
});

t.test('TXT for _acme-challenge comes from Redis, with a short TTL; other names are NXDOMAIN', async (t) => {
  const { port, redis } = await dnsEntrance(t);
  const name = `_acme-challenge.box-alpha.${DOMAIN}`;
  t.equal(rcode(await udpQuery(port, name, 'TXT')), 'NXDOMAIN', 'no order running');
  await redis.sadd(acmeKeys().challenge(`box-alpha.${DOMAIN}`), 'token-value-1');
  const txt = await udpQuery(port, name.toUpperCase(), 'TXT');
  t.equal(rcode(txt), 'NOERROR');
  t.same(txt.answers?.map((r) => r.type === 'TXT' && textOf(r.data)), ['token-value-1']);
  t.ok(ttlOf(txt) <= 60, 'short TTL');
  t.equal(rcode(await udpQuery(port, `www.box-alpha.${DOMAIN}`, 'A')), 'NXDOMAIN');
  t.equal(rcode(await udpQuery(port, `a.b.c.${DOMAIN}`, 'TXT')), 'NXDOMAIN');
});

t.test('other zones are REFUSED, with no recursion', async (t) => {
  const { port } = await dnsEntrance(t);
  for (const name of ['example.com', `x${DOMAIN}`, `${DOMAIN}.evil.example`, 'test', '.']) {
    const reply = await udpQuery(port, name, 'A');
    t.equal(rcode(reply), 'REFUSED', `${name} refused`);
    t.same(reply.answers, [], `${name}: nothing answered`);
  }
  t.equal(rcode(await udpQuery(port, 'version.bind', 'TXT', { klass: 'CH' })), 'REFUSED', 'CHAOS class refused');
  t.equal(rcode(await udpQuery(port, DOMAIN, 'SOA', { klass: 'CH' })), 'REFUSED', 'our zone in another class refused');
});

t.test('hostile UDP packets get FORMERR or nothing, and the server keeps answering', async (t) => {
  const { port } = await dnsEntrance(t);
  const good = queryBytes(`${DOMAIN}`, 'SOA', { id: 7 });
  t.equal(await udpRaw(port, Buffer.from([1, 2, 3]), 500), undefined, 'shorter than a header: dropped');
  const response = Buffer.from(good);
  response.writeUInt16BE(response.readUInt16BE(2) | 0x8000, 2);
  t.equal(await udpRaw(port, response, 500), undefined, 'a response (QR set): dropped, never bounced');
  t.equal(await udpRaw(port, Buffer.concat([good, Buffer.alloc(5000)]), 500), undefined, 'huge: dropped');

  const twoQuestions = Buffer.from(good);
  twoQuestions.writeUInt16BE(2, 4);
  const formerr = await udpRaw(port, twoQuestions);
  t.equal(rcodeOf(formerr), 'FORMERR', 'two questions announced: FORMERR');
  const many = Buffer.from(good);
  many.writeUInt16BE(65535, 4);
  const manyReply = await udpRaw(port, many);
  t.equal(rcodeOf(manyReply), 'FORMERR', '65535 questions announced: FORMERR without decoding them');
  const answersIn = Buffer.from(good);
  answersIn.writeUInt16BE(3, 6);
  const answersReply = await udpRaw(port, answersIn);
  t.equal(rcodeOf(answersReply), 'FORMERR', 'a query carrying answers: FORMERR');
  const cut = await udpRaw(port, good.subarray(0, good.length - 3));
  t.equal(rcodeOf(cut), 'FORMERR', 'truncated question: FORMERR');
  t.equal(cut?.readUInt16BE(0), 7, 'the FORMERR keeps the query ID');
  const update = Buffer.from(good);
  update.writeUInt16BE((update.readUInt16BE(2) & ~0x7800) | (5 << 11), 2);
  const updateReply = await udpRaw(port, update);
  t.equal(rcodeOf(updateReply), 'NOTIMP', 'UPDATE: NOTIMP');
  const loop = Buffer.from(good);
  loop.writeUInt16BE(0xc00c, 12);
  const loopReply = await udpRaw(port, loop);
  t.equal(rcodeOf(loopReply), 'FORMERR', 'a compression pointer to itself: FORMERR');

  let seed = 1;
  const random = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
  for (let i = 0; i < 300; i++) {
    const junk = Buffer.from(Array.from({ length: 12 + (i % 60) }, random));
    junk.writeUInt16BE(junk.readUInt16BE(2) & 0x7fff, 2);
    await udpRaw(port, junk, 20);
  }
  const after = await udpQuery(port, DOMAIN, 'SOA');
  t.equal(rcode(after), 'NOERROR', 'still answering after 300 random packets');
});

t.test('hostile TCP streams are closed or answered FORMERR, and the server keeps answering', async (t) => {
  const { port } = await dnsEntrance(t);
  const huge = await tcpConnect(port);
  huge.write(Buffer.from([0xff, 0xff, 1, 2, 3]));
  await huge.closed;
  t.pass('a length prefix over the limit: connection closed');

  const junk = await tcpConnect(port);
  // A query header (one question, opcode QUERY) followed by bytes that are no question.
  junk.send(Buffer.concat([Buffer.from([0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), Buffer.from('this is not a question')]));
  const junkReply = await junk.next();
  t.equal(rcodeOf(junkReply), 'FORMERR', 'junk framed: FORMERR');
  junk.send(Buffer.from([0, 1]));
  t.equal(await junk.next(), undefined, 'shorter than a header: no reply, connection closed');

  const pipelined = await tcpConnect(port);
  for (let id = 1; id <= 20; id++) pipelined.send(queryBytes(DOMAIN, 'SOA', { id }));
  const ids: number[] = [];
  for (let i = 0; i < 20; i++) {
    const reply = await pipelined.next();
    if (reply) ids.push(reply.readUInt16BE(0));
  }
  t.same(ids, Array.from({ length: 20 }, (_v, i) => i + 1), 'pipelined queries answered in order');
  pipelined.close();

  const half = await tcpConnect(port);
  half.write(Buffer.from([0, 40, 1, 2]));
  half.close();
  const after = await udpQuery(port, DOMAIN, 'SOA');
  t.equal(rcode(after), 'NOERROR', 'still answering');
});

t.test('a box registered over IPv6 has an AAAA record', async (t) => {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: { DANDELION_ENTRANCE_IP: '::1', DANDELION_BOX_DOMAIN: DOMAIN, DANDELION_DNS_BIND: '127.0.0.1', DANDELION_DNS_PORT: '0' } });
  const port = entrance.dnsPort ?? 0;
  await heartbeat(entrance.url, 'box-six', '::1');
  const aaaa = await udpQuery(port, `box-six.${DOMAIN}`, 'AAAA');
  t.same(aaaa.answers?.map((r) => r.type === 'AAAA' && r.data), ['::1']);
  const a = await udpQuery(port, `box-six.${DOMAIN}`, 'A');
  t.equal(rcode(a), 'NOERROR', 'no A for an IPv6 box: NODATA');
  t.same(a.answers, []);
});

t.test('the name server is the entrance\'s own host name when it has one outside the zone', async (t) => {
  t.equal(zoneNameServer(DOMAIN, 'wss://entrance.example.net/dandelion/ws/'), 'entrance.example.net');
  t.equal(zoneNameServer(DOMAIN, 'ws://203.0.113.9:7071/dandelion/ws/'), `ns.${DOMAIN}`, 'an address: ns.<zone>');
  t.equal(zoneNameServer(DOMAIN, 'ws://[2a00:1::9]:7071/dandelion/ws/'), `ns.${DOMAIN}`, 'an IPv6 address: ns.<zone>');
  t.equal(zoneNameServer(DOMAIN, `wss://e.${DOMAIN}/`), `ns.${DOMAIN}`, 'a name inside the zone would need glue: ns.<zone>');
  t.equal(zoneNameServer(DOMAIN, undefined), `ns.${DOMAIN}`);
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: { DANDELION_ENTRANCE_URL: 'ws://entrance.example.net:7071/dandelion/ws/', DANDELION_BOX_DOMAIN: DOMAIN, DANDELION_DNS_BIND: '127.0.0.1', DANDELION_DNS_PORT: '0' } });
  const ns = await udpQuery(entrance.dnsPort ?? 0, DOMAIN, 'NS');
  t.same(ns.answers?.map((a) => a.type === 'NS' && a.data), ['entrance.example.net']);
});
