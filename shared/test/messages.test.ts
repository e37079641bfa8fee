// The one decoder turns every message of the original README into a typed message, normalises
// numbers sent as strings, and refuses what breaks the original's rule with a code.
import t from 'tap';
import { decodeText, decodeMessage, encodeMessage, parseLoc, trafficRecordsOf } from '../src/protocol/index.js';

const box = { ID: 'box-1', IP: '198.51.100.7', PORT: 7071, TYPE: 'BOX', COMMAND: 'EXCHANGE', CONNECT_WS: 'ws://198.51.100.7:7071/dandelion/box-1/ws/' };

t.test('every message kind decodes', async (t) => {
  t.equal(decodeMessage(box).kind, 'EXCHANGE');
  t.equal(decodeMessage({ ...box, TYPE: 'Entrance', ID: 'entrance-1', MESSAGE: 'ACCEPTED', ENTRANCE_URLS: ['wss://e/dandelion/ws/'] }).kind, 'EXCHANGE_REPLY', "the original's 'Entrance' spelling");
  t.equal(decodeMessage({ ID: 'publisher-1', IP: '10.0.0.1', TYPE: 'PUBLISHER', COMMAND: 'SEARCH' }).kind, 'SEARCH', 'publisher without PORT');
  t.equal(decodeMessage({ ID: 'publisher-1', IP: '10.0.0.1', TYPE: 'PUBLISHER', COMMAND: 'PUBLISH' }).kind, 'PUBLISH');
  t.equal(decodeMessage({ ...box, COMMAND: 'PUBLISH', MESSAGE: 'ACCEPTED' }).kind, 'PUBLISH_REPLY');
  const search = decodeMessage({ ID: 'entrance-1', IP: 'e.example', PORT: 443, TYPE: 'ENTRANCE', COMMAND: 'SEARCH', BOX_SET: { 'box-1': box }, ENTRANCE_URLS: [] });
  t.equal(search.kind, 'SEARCH_REPLY');
  if (search.kind === 'SEARCH_REPLY') t.equal(search.msg.BOX_SET['box-1']?.RANK, 1, 'RANK defaults to the position');
  const ok = decodeMessage({ ...box, COMMAND: 'FILE', FILE_PATH: 'a.ts', MESSAGE: 'ACCEPTED', SIZE: 3, SHA256: 'a'.repeat(64) });
  t.equal(ok.kind, 'FILE_REPLY');
  const refused = decodeMessage({ ...box, COMMAND: 'FILE', FILE_PATH: 'a.ts', ERROR: 'disk full', ERROR_CODE: 'E_DISK_FULL' });
  t.equal(refused.kind, 'FILE_REPLY', 'a FILE reply with ERROR is still a FILE reply');
  if (refused.kind === 'FILE_REPLY') t.equal(refused.msg.ERROR_CODE, 'E_DISK_FULL', 'its known ERROR_CODE kept');
  const newer = decodeMessage({ ...box, COMMAND: 'FILE', FILE_PATH: 'a.ts', ERROR: 'a newer refusal', ERROR_CODE: 'E_FROM_A_NEWER_BOX' });
  if (newer.kind !== 'FILE_REPLY') throw new Error('kind');
  t.equal(newer.msg.ERROR, 'a newer refusal', "a code this version does not know: the reply's ERROR still counts");
  t.equal(newer.msg.ERROR_CODE, undefined, 'and the unknown code is not passed on as one of ours');
  t.equal(decodeMessage({ ...box, TYPE: 'ENTRANCE', ID: 'entrance-1', ERROR: 'Wrong format in your message: x' }).kind, 'ERROR');
});

t.test('numbers as strings are normalised; unknown scalars kept', async (t) => {
  const d = decodeMessage({ ...box, PORT: '7071', 'CPU-USR': '12.5', 'DISK-AVAIL': 3, NOTE: 'hi', FLAG: true });
  if (d.kind !== 'EXCHANGE') throw new Error('kind');
  t.equal(d.msg.PORT, 7071);
  t.equal(d.msg['CPU-USR'], 12.5);
  t.equal(d.msg.NOTE, 'hi');
  t.equal(d.msg.FLAG, true);
  t.same(JSON.parse(encodeMessage(d.msg)).PORT, 7071);
});

t.test('error counters and the agent\'s uptime: whole counts, absent from an original box', async (t) => {
  const d = decodeMessage({ ...box, 'SERVE-ERRORS': '12', 'AGENT-ERRORS': 0, 'AGENT-UPTIME': 3600.5 });
  if (d.kind !== 'EXCHANGE') throw new Error('kind');
  t.same([d.msg['SERVE-ERRORS'], d.msg['AGENT-ERRORS'], d.msg['AGENT-UPTIME']], [12, 0, 3600.5]);
  const original = decodeMessage({ ...box });
  if (original.kind !== 'EXCHANGE') throw new Error('kind');
  t.equal(original.msg['SERVE-ERRORS'], undefined, 'an original box sends none, and is taken as it is');
  t.equal(decodeMessage({ ...box, 'SERVE-ERRORS': '' }).kind, 'EXCHANGE', "'' (a Redis hash's absent field) reads as absent");
  t.throws(() => decodeMessage({ ...box, 'SERVE-ERRORS': 1.5 }), { code: 'E_FORMAT', message: /SERVE-ERRORS must be a whole number/ });
  t.throws(() => decodeMessage({ ...box, 'AGENT-ERRORS': -1 }), { code: 'E_FORMAT' });
  t.throws(() => decodeMessage({ ...box, 'AGENT-ERRORS': 'many' }), { code: 'E_FORMAT' });
  t.throws(() => decodeMessage({ ...box, 'AGENT-UPTIME': -3 }), { code: 'E_FORMAT' });
});

t.test('GEOIP keys are matched case-insensitively and LOC checked', async (t) => {
  const d = decodeMessage({ ...box, GEOIP: { ip: '1.2.3.4', city: 'Taipei', loc: '25.0,121.5', postal: '100' } });
  if (d.kind !== 'EXCHANGE') throw new Error('kind');
  t.same(d.msg.GEOIP, { IP: '1.2.3.4', CITY: 'Taipei', LOC: '25.0,121.5' });
  t.same(parseLoc('25.0,121.5'), { lat: 25, lon: 121.5 });
  t.equal(parseLoc('95,0'), undefined);
  t.equal(parseLoc('1,181'), undefined);
  t.throws(() => decodeMessage({ ...box, GEOIP: { LOC: '91,0' } }), { code: 'E_FORMAT' });
});

t.test('traffic records are typed and must be the sender\'s own', async (t) => {
  const d = decodeMessage({ ...box, 'box-1:TRAFFIC_FLOW:log-abc': { url: '/p/a.ts', status: '200', size: '10', datetime: '27/Sep/2017:03:20:10' } });
  if (d.kind !== 'EXCHANGE') throw new Error('kind');
  t.same(trafficRecordsOf(d.msg), [{ key: 'box-1:TRAFFIC_FLOW:log-abc', record: { url: '/p/a.ts', status: 200, size: 10, datetime: '27/Sep/2017:03:20:10' } }]);
  t.throws(() => decodeMessage({ ...box, 'box-2:TRAFFIC_FLOW:log-abc': { url: '/', status: 200, size: 1 } }), { code: 'E_FORMAT' });
  t.throws(() => decodeMessage({ ...box, 'box-1:TRAFFIC_FLOW:log-abc': { url: '/', status: 42, size: 1 } }), { code: 'E_FORMAT' });
});

t.test('refusals carry codes', async (t) => {
  t.throws(() => decodeText('nope'), { code: 'E_FORMAT' });
  t.throws(() => decodeText('null'), { code: 'E_FORMAT' });
  t.throws(() => decodeMessage({ ...box, ID: 'box-' }), { code: 'E_ID' });
  t.throws(() => decodeMessage({ ...box, ID: 'box-a/b' }), { code: 'E_ID' });
  t.throws(() => decodeMessage({ ...box, ID: `box-${'x'.repeat(200)}` }), { code: 'E_TOO_BIG' });
  t.throws(() => decodeMessage({ ...box, IP: 'not an ip!' }), { code: 'E_FORMAT' });
  t.throws(() => decodeMessage({ ...box, IP: '1.2.3.4\n' }), { code: 'E_FORMAT' });
  t.throws(() => decodeMessage({ ...box, PORT: 1.5 }), { code: 'E_FORMAT' });
  t.throws(() => decodeMessage({ ...box, COMMAND: undefined }), { code: 'E_COMMAND' });
  t.throws(() => decodeMessage({ ...box, CONNECT_WS: 'ftp://x/' }), { code: 'E_FORMAT' });
  t.throws(() => decodeMessage({ ...box, 'CPU-USR': Infinity }), { code: 'E_FORMAT' });
  t.throws(() => decodeMessage({ ...box, 'bad key!': 1 }), { code: 'E_FORMAT' });
  t.throws(() => decodeMessage({ ...box, COMMAND: 'FILE', FILE_PATH: 'a', MESSAGE: 'ACCEPTED', SIZE: 1, SHA256: 'XYZ' }), { code: 'E_FORMAT' });
  const many = Object.fromEntries(Array.from({ length: 1100 }, (_, i) => [`K${i}`, 1]));
  t.throws(() => decodeMessage({ ...box, ...many }), { code: 'E_TOO_BIG' });
});

t.test('trust extensions: GRANT in SEARCH replies and PUBLISH, FLEET_KEYS and REVOKED_PUBLISHERS in EXCHANGE replies', async (t) => {
  const entrance = { ID: 'entrance-1', IP: 'e.example', PORT: 443, TYPE: 'ENTRANCE' };
  const publisher = { ID: 'publisher-1', IP: '10.0.0.1', TYPE: 'PUBLISHER' };
  const publish = decodeMessage({ ...publisher, COMMAND: 'PUBLISH', GRANT: 'body.signature' });
  if (publish.kind !== 'PUBLISH') throw new Error('kind');
  t.equal(publish.msg.GRANT, 'body.signature', 'PUBLISH carries its grant');
  const bare = decodeMessage({ ...publisher, COMMAND: 'PUBLISH' });
  t.equal(bare.kind === 'PUBLISH' ? bare.msg.GRANT : 'kind', undefined, "an original publisher's PUBLISH has none");
  t.throws(() => decodeMessage({ ...publisher, COMMAND: 'PUBLISH', GRANT: 'x'.repeat(2049) }), { code: 'E_TOO_BIG' });

  const search = decodeMessage({ ...entrance, COMMAND: 'SEARCH', BOX_SET: {}, ENTRANCE_URLS: [], GRANT: 'g.s' });
  t.equal(search.kind === 'SEARCH_REPLY' ? search.msg.GRANT : 'kind', 'g.s', 'a SEARCH reply carries the grant');

  const key = 'MCowBQYDK2VwAyEA' + 'A'.repeat(43) + '=';
  const reply = decodeMessage({ ...entrance, COMMAND: 'EXCHANGE', MESSAGE: 'ACCEPTED', FLEET_KEYS: { k1: key }, REVOKED_PUBLISHERS: ['publisher-bad'] });
  if (reply.kind !== 'EXCHANGE_REPLY') throw new Error('kind');
  t.same(reply.msg.FLEET_KEYS, { k1: key });
  t.same(reply.msg.REVOKED_PUBLISHERS, ['publisher-bad']);
  const exchangeReply = (extra: Record<string, unknown>) => () => decodeMessage({ ...entrance, COMMAND: 'EXCHANGE', MESSAGE: 'ACCEPTED', ...extra });
  t.throws(exchangeReply({ FLEET_KEYS: { 'a/b': key } }), { code: 'E_FORMAT' }, 'a key ID with a slash');
  t.throws(exchangeReply({ FLEET_KEYS: { k1: 'not base64!' } }), { code: 'E_FORMAT' }, 'a key that is not base64');
  t.throws(exchangeReply({ FLEET_KEYS: Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`k${i}`, key])) }), { code: 'E_TOO_BIG' }, 'more than 8 keys');
  t.throws(exchangeReply({ REVOKED_PUBLISHERS: ['box-1'] }), { code: 'E_ID' }, 'a revoked ID that is no publisher');
  t.throws(exchangeReply({ REVOKED_PUBLISHERS: 'publisher-1' }), { code: 'E_FORMAT' }, 'not a list');
});

t.test('CERTIFY and its reply: a PEM CSR of bounded size, a PEM chain and NOT_AFTER', async (t) => {
  const csr = '-----BEGIN CERTIFICATE REQUEST-----\nMIIBazCCARECAQAw\n-----END CERTIFICATE REQUEST-----\n';
  const request = decodeMessage({ ...box, COMMAND: 'CERTIFY', CSR: csr });
  t.equal(request.kind, 'CERTIFY');
  if (request.kind === 'CERTIFY') t.equal(request.msg.CSR, csr, 'line breaks kept');
  t.throws(() => decodeMessage({ ...box, COMMAND: 'CERTIFY' }), { code: 'E_FORMAT' }, 'CSR missing');
  t.throws(() => decodeMessage({ ...box, COMMAND: 'CERTIFY', CSR: 'hello' }), { code: 'E_FORMAT' }, 'no PEM block');
  t.throws(() => decodeMessage({ ...box, COMMAND: 'CERTIFY', CSR: `${csr}\u0000` }), { code: 'E_FORMAT' }, 'a control character other than a line break');
  t.throws(() => decodeMessage({ ...box, COMMAND: 'CERTIFY', CSR: csr + 'A'.repeat(9000) }), { code: 'E_TOO_BIG' }, 'over 8 KiB');
  t.throws(() => decodeMessage({ ...box, COMMAND: 'CERTIFY', CSR: { pem: csr } }), { code: 'E_FORMAT' }, 'not a string');
  t.throws(() => decodeMessage({ ID: 'publisher-1', IP: '10.0.0.1', TYPE: 'PUBLISHER', COMMAND: 'CERTIFY', CSR: csr }), { code: 'E_TYPE' }, 'only boxes ask');

  const entrance = { ID: 'entrance-1', IP: 'e.example', PORT: 443, TYPE: 'ENTRANCE', COMMAND: 'CERTIFY' };
  const chain = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n';
  const reply = decodeMessage({ ...entrance, MESSAGE: 'ACCEPTED', CERTIFICATE: chain, NOT_AFTER: '1780000000' });
  t.equal(reply.kind, 'CERTIFY_REPLY');
  if (reply.kind === 'CERTIFY_REPLY') t.same([reply.msg.CERTIFICATE, reply.msg.NOT_AFTER], [chain, 1780000000]);
  t.throws(() => decodeMessage({ ...entrance, MESSAGE: 'ACCEPTED', CERTIFICATE: 'x', NOT_AFTER: 1 }), { code: 'E_FORMAT' }, 'no PEM certificate');
  t.throws(() => decodeMessage({ ...entrance, CERTIFICATE: chain, NOT_AFTER: 1 }), { code: 'E_FORMAT' }, 'no MESSAGE ACCEPTED');
  const refused = decodeMessage({ ...entrance, ERROR: 'Wrong format in your message: no', ERROR_CODE: 'E_BAD_CSR' });
  t.equal(refused.kind, 'ERROR');
  if (refused.kind === 'ERROR') t.same([refused.msg.COMMAND, refused.msg.ERROR_CODE], ['CERTIFY', 'E_BAD_CSR']);
});

t.test('BOX_NAME in the EXCHANGE reply; HTTPS_URL in EXCHANGE must be https', async (t) => {
  const reply = decodeMessage({ ...box, TYPE: 'ENTRANCE', ID: 'entrance-1', MESSAGE: 'ACCEPTED', ENTRANCE_URLS: [], BOX_NAME: 'box-1.boxes.example.net' });
  if (reply.kind !== 'EXCHANGE_REPLY') throw new Error('kind');
  t.equal(reply.msg.BOX_NAME, 'box-1.boxes.example.net');
  t.throws(() => decodeMessage({ ...box, TYPE: 'ENTRANCE', ID: 'entrance-1', MESSAGE: 'ACCEPTED', BOX_NAME: 'not a name' }), { code: 'E_FORMAT' });
  const exchange = decodeMessage({ ...box, HTTPS_URL: 'https://box-1.boxes.example.net:7073/' });
  if (exchange.kind !== 'EXCHANGE') throw new Error('kind');
  t.equal(exchange.msg.HTTPS_URL, 'https://box-1.boxes.example.net:7073/');
  t.throws(() => decodeMessage({ ...box, HTTPS_URL: 'http://box-1.boxes.example.net/' }), { code: 'E_FORMAT' }, 'http:// refused');
  t.throws(() => decodeMessage({ ...box, HTTPS_URL: 'not a url' }), { code: 'E_FORMAT' });
});
