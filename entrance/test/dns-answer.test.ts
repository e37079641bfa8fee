/**
 * answerQuery (entrance/src/dns/answer.ts) on generated hostile input: random bytes and valid queries with
 * bytes flipped, cut or appended never throw, never get a reply longer than a UDP datagram holds without
 * EDNS, and a reply is always a response carrying the query's ID. The zone's records are a small table
 * in memory, as Redis would return them.
 */
import t from 'tap';
import fc from 'fast-check';
import dnsPacket from 'dns-packet';
import { MAX_QUERY_BYTES, answerQuery } from '../../entrance/src/dns/answer.js';
import type { Zone } from '../../entrance/src/dns/answer.js';

const DOMAIN = 'boxes.test';
const ADDRESSES = new Map([['box-a', '192.0.2.1'], ['box-b', '2a00:1::1']]);
const zone: Zone = {
  domain: DOMAIN,
  nameServer: `ns.${DOMAIN}`,
  records: {
    addressOf: async (boxId) => ADDRESSES.get(boxId),
    challengeValues: async (boxName) => (boxName === `box-a.${DOMAIN}` ? ['v'.repeat(43)] : []),
  },
};

const names = fc.constantFrom(DOMAIN, `box-a.${DOMAIN}`, `BOX-B.${DOMAIN}`, `_acme-challenge.box-a.${DOMAIN}`, 'example.com', `x.y.${DOMAIN}`, '');
const types = fc.constantFrom('A', 'AAAA', 'TXT', 'SOA', 'NS', 'MX', 'CAA');
const validQuery = fc.tuple(fc.integer({ min: 0, max: 65535 }), names, types).map(([id, name, type]) =>
  dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type }] }),
);
const mutated = fc.tuple(validQuery, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.nat(), fc.uint8Array({ maxLength: 40 })).map(
  ([query, flips, cut, tail]) => {
    const bytes = Buffer.from(query);
    for (const [at, value] of flips) bytes[at % bytes.length] = value;
    return Buffer.concat([bytes.subarray(0, Math.max(0, bytes.length - (cut % 8))), Buffer.from(tail)]);
  },
);
const random = fc.uint8Array({ minLength: 0, maxLength: 600 }).map((a) => Buffer.from(a));

t.test('hostile queries never throw, and every reply is a short response with the query\'s ID', async (t) => {
  let replies = 0;
  await fc.assert(
    fc.asyncProperty(fc.oneof(mutated, random, validQuery), async (query) => {
      const reply = await answerQuery(query, zone);
      if (reply === undefined) return;
      replies++;
      if (reply.length > 512) throw new Error(`reply of ${reply.length} bytes`);
      if (reply.readUInt16BE(0) !== query.readUInt16BE(0)) throw new Error('the reply does not carry the query ID');
      if ((reply.readUInt16BE(2) & 0x8000) === 0) throw new Error('the reply is not a response');
    }),
    { numRuns: 20_000 },
  );
  t.ok(replies > 1000, `${replies} of 20,000 generated packets answered`);
});

t.test('a query over MAX_QUERY_BYTES is dropped unread', async (t) => {
  const valid = dnsPacket.encode({ type: 'query', id: 1, questions: [{ name: DOMAIN, type: 'SOA' }] });
  t.equal(await answerQuery(Buffer.concat([valid, Buffer.alloc(MAX_QUERY_BYTES)]), zone), undefined);
  t.ok(await answerQuery(valid, zone), 'while the same query alone is answered');
});
