// protocol/errors.ts: a ProtocolError carries its code and close code (4000 unless given), is told
// apart from other errors, errnoOf narrows a thrown value to a system error code, and messageOf gives
// any thrown value's words.
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { Close, ERROR_CODES, ProtocolError, errnoOf, isErrorCode, isProtocolError, messageOf } from '../src/protocol/errors.js';

t.test('ProtocolError', async (t) => {
  const plain = new ProtocolError('E_FORMAT', 'PORT is missing');
  t.equal(plain.code, 'E_FORMAT');
  t.equal(plain.close, Close.PROTOCOL, 'a malformed message closes with 4000 by default');
  t.equal(plain.message, 'PORT is missing');
  t.equal(plain.name, 'ProtocolError');
  t.ok(plain instanceof Error);
  t.equal(new ProtocolError('E_BINARY', 'no binary', Close.UNSUPPORTED_DATA).close, 1003);
  t.ok(isProtocolError(plain));
  t.notOk(isProtocolError(new Error('E_FORMAT')));
  t.notOk(isProtocolError({ code: 'E_FORMAT', close: 4000 }), 'a look-alike object is not one');
});

t.test('close codes are legal: RFC 6455 ones or the 4000-4999 application range', async (t) => {
  t.same([Close.NORMAL, Close.GOING_AWAY, Close.UNSUPPORTED_DATA, Close.TOO_BIG, Close.INTERNAL, Close.TRY_AGAIN_LATER], [1000, 1001, 1003, 1009, 1011, 1013]);
  for (const code of [Close.PROTOCOL, Close.AUTH, Close.REVOKED]) t.ok(code >= 4000 && code <= 4999, `${code} is an application code`);
  t.equal(new Set(Object.values(Close)).size, Object.keys(Close).length, 'no two share a number');
});

t.test('errnoOf', async (t) => {
  const missing = await readFile('/nonexistent/dandelion').catch((err: unknown) => err);
  t.equal(errnoOf(missing), 'ENOENT', 'a real system error');
  t.equal(errnoOf(new ProtocolError('E_ID', 'x')), 'E_ID', 'anything with a string code');
  t.equal(errnoOf(new Error('no code')), undefined);
  t.equal(errnoOf({ code: 42 }), undefined, 'a code that is not a string');
  for (const v of [null, undefined, 'ENOENT', 7]) t.equal(errnoOf(v), undefined);
});

t.test('isErrorCode', async (t) => {
  for (const code of ERROR_CODES) t.ok(isErrorCode(code), `${code} is known`);
  for (const other of ['E_SOMETHING_NEWER', 'e_format', '', 'E_FORMAT ']) t.notOk(isErrorCode(other), `${JSON.stringify(other)} is not`);
});

t.test('messageOf', async (t) => {
  t.equal(messageOf(new Error('disk full')), 'disk full');
  t.equal(messageOf(new ProtocolError('E_PATH', 'FILE_PATH has a ".." segment')), 'FILE_PATH has a ".." segment', "an Error's message");
  t.equal(messageOf(new RangeError('out of range')), 'out of range');
  t.equal(messageOf(await readFile('/nonexistent/dandelion').catch((err: unknown) => err)), "ENOENT: no such file or directory, open '/nonexistent/dandelion'");
  t.equal(messageOf('thrown text'), 'thrown text', 'a thrown string as it is');
  t.equal(messageOf(42), '42', 'anything else as text');
  t.equal(messageOf(undefined), 'undefined');
  t.equal(messageOf({ message: 'look-alike' }), '[object Object]', "only an Error's message is trusted");
});
