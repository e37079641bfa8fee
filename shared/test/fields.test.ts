// The small field checks every decoder is built from: each refusal is a ProtocolError naming the field
// with the right code (E_FORMAT, or E_TOO_BIG for length and key-count limits).
import t from 'tap';
import { Limits, checkKeyCount, isEmpty, isOneOf, optionalNumber, optionalRecord, optionalString, requireString, toHost, toNumber, toPort, toWsUrl } from '../src/protocol/fields.js';

function refusal(fn: () => unknown): { code?: string; message?: string } | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err as { code: string; message: string };
  }
}

t.test('isEmpty', async (t) => {
  for (const v of [undefined, null, '', '   ']) t.ok(isEmpty(v), `${JSON.stringify(v)} is empty`);
  for (const v of [0, false, 'x', {}, []]) t.notOk(isEmpty(v), `${JSON.stringify(v)} is not`);
});

t.test('strings', async (t) => {
  t.equal(requireString({ ID: 'box-1' }, 'ID'), 'box-1');
  t.equal(requireString({ PORT: 8080 }, 'PORT'), '8080', 'a finite number is taken as its text');
  t.match(refusal(() => requireString({}, 'ID')), { code: 'E_FORMAT', message: 'ID is missing or empty' });
  t.match(refusal(() => requireString({ ID: ' ' }, 'ID')), { code: 'E_FORMAT' });
  t.match(refusal(() => requireString({ ID: {} }, 'ID')), { code: 'E_FORMAT', message: 'ID must be a string' });
  t.match(refusal(() => requireString({ ID: 'x'.repeat(11) }, 'ID', 10)), { code: 'E_TOO_BIG', message: 'ID is longer than 10 characters' });
  t.match(refusal(() => requireString({ ID: 'box-1\nforged log line' }, 'ID')), { code: 'E_FORMAT', message: 'ID holds control characters' });
  t.equal(optionalString({}, 'NOTE'), undefined);
  t.equal(optionalString({ NOTE: null }, 'NOTE'), undefined);
  t.equal(optionalString({ NOTE: '' }, 'NOTE'), '', 'optional: empty is a value');
  t.match(refusal(() => optionalString({ NOTE: true }, 'NOTE')), { code: 'E_FORMAT' });
});

t.test('numbers and ports', async (t) => {
  t.equal(toNumber('12.5', 'X'), 12.5, 'a string holding a number, as the original sent');
  t.equal(toNumber(3, 'X'), 3);
  for (const bad of ['', 'abc', 'NaN', 'Infinity', true, null, {}, '1'.repeat(65)]) t.match(refusal(() => toNumber(bad, 'X')), { code: 'E_FORMAT', message: /^X must be/ }, `${JSON.stringify(bad)}`);
  t.match(refusal(() => toNumber(5, 'X', { min: 0, max: 4 })), { message: 'X must be between 0 and 4' });
  t.equal(optionalNumber({ X: '' }, 'X'), undefined);
  t.equal(optionalNumber({ X: '7' }, 'X', { min: 0 }), 7);
  t.equal(toPort('443', 'PORT'), 443);
  for (const bad of [0, 65536, 80.5, -1, 'http']) t.match(refusal(() => toPort(bad, 'PORT')), { code: 'E_FORMAT' }, `port ${JSON.stringify(bad)}`);
});

t.test('hosts and WebSocket URLs', async (t) => {
  for (const ok of ['127.0.0.1', '::1', 'fe80::1', 'box.example.org', 'localhost', 'a-b.example.', `${'x'.repeat(63)}.example`]) t.equal(toHost(ok, 'IP'), ok);
  for (const bad of ['-bad.example', 'bad_host', 'a..b', 'http://x', `${'x'.repeat(64)}.example`, '']) t.match(refusal(() => toHost(bad, 'IP')), { code: 'E_FORMAT' }, `host ${JSON.stringify(bad.slice(0, 20))} (a 64-character label is over DNS's 63)`);
  for (const ok of ['ws://e.example/dandelion/ws/', 'wss://e.example', 'https://e.example/ws']) t.equal(toWsUrl(ok, 'URL'), ok);
  t.match(refusal(() => toWsUrl('ftp://e.example', 'URL')), { code: 'E_FORMAT', message: /must be a ws:\/\// });
  t.match(refusal(() => toWsUrl('not a url', 'URL')), { code: 'E_FORMAT', message: 'URL is not a URL' });
  t.match(refusal(() => toWsUrl(`ws://e.example/${'x'.repeat(Limits.urlChars)}`, 'URL')), { code: 'E_TOO_BIG' });
});

t.test('records and key counts', async (t) => {
  t.same(optionalRecord({ GEOIP: { CITY: 'Lyon' } }, 'GEOIP'), { CITY: 'Lyon' });
  t.equal(optionalRecord({}, 'GEOIP'), undefined);
  t.match(refusal(() => optionalRecord({ GEOIP: [] }, 'GEOIP')), { code: 'E_FORMAT', message: 'GEOIP must be an object' });
  const many: Record<string, unknown> = {};
  for (let i = 0; i < Limits.keysPerMessage; i++) many[`k${i}`] = i;
  t.equal(refusal(() => checkKeyCount(many, 'message')), undefined, 'exactly the limit is fine');
  many.one_more = 1;
  t.match(refusal(() => checkKeyCount(many, 'message')), { code: 'E_TOO_BIG', message: `message has more than ${Limits.keysPerMessage} keys` });
  t.match(refusal(() => checkKeyCount({ ['k'.repeat(Limits.keyChars + 1)]: 1 }, 'message')), { code: 'E_TOO_BIG', message: /key longer than/ });
});

t.test('isOneOf narrows a string to one of a list of literals', async (t) => {
  const kinds = ['BOX', 'PUBLISHER'] as const;
  t.ok(isOneOf(kinds, 'BOX'));
  t.ok(isOneOf(kinds, 'PUBLISHER'));
  for (const other of ['box', 'ENTRANCE', '', 'BOX ']) t.notOk(isOneOf(kinds, other), `${JSON.stringify(other)} is not one`);
  t.notOk(isOneOf([], 'BOX'), 'nothing is one of an empty list');
});
