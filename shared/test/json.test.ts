// protocol/json.ts: JSON from the network cannot poison prototypes, bad JSON is a coded E_FORMAT, and
// isRecord tells plain objects from arrays and null.
import t from 'tap';
import { isRecord, parseJsonSafe } from '../src/protocol/json.js';
import { ProtocolError } from '../src/protocol/errors.js';

t.test('__proto__, constructor and prototype keys are dropped at every depth', async (t) => {
  const parsed = parseJsonSafe('{"a":1,"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}},"nested":{"__proto__":{"p":2},"prototype":3,"keep":4}}') as Record<string, unknown>;
  t.same(Object.keys(parsed), ['a', 'nested']);
  t.same(parsed.nested, { keep: 4 });
  const merged = { ...parsed } as Record<string, unknown>;
  t.equal(merged.polluted, undefined, 'spreading it adds nothing from __proto__');
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype untouched');
  t.equal(Object.getPrototypeOf(parsed), Object.prototype);
});

t.test('values other than objects come through', async (t) => {
  t.same(parseJsonSafe('[1,"two",null]'), [1, 'two', null]);
  t.equal(parseJsonSafe('"text"'), 'text');
  t.equal(parseJsonSafe('42'), 42);
});

t.test('text that is not JSON is a ProtocolError E_FORMAT with close code 4000', async (t) => {
  for (const bad of ['', '{', 'not json', '{"a":1,}', '\u0000']) {
    let caught: unknown;
    try {
      parseJsonSafe(bad);
    } catch (err) {
      caught = err;
    }
    t.ok(caught instanceof ProtocolError, `${JSON.stringify(bad)}: ProtocolError`);
    t.match(caught, { code: 'E_FORMAT', close: 4000, message: /^not valid JSON: / });
  }
});

t.test('isRecord', async (t) => {
  t.ok(isRecord({}));
  t.ok(isRecord({ a: 1 }));
  for (const v of [null, undefined, [], [1], 'x', 1, true]) t.notOk(isRecord(v), `${JSON.stringify(v)} is not a record`);
});
