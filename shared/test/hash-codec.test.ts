// Exchanges stored as Redis hashes come back through the same decoder as the wire: objects as objects,
// readings as numbers, and a string that merely looks like JSON stays a string.
import t from 'tap';
import { boxExchangeFromHash, decodeMessage, toHash } from '../src/protocol/index.js';

t.test('round trip through the hash form', async (t) => {
  const decoded = decodeMessage({
    ID: 'box-1', IP: '10.0.0.1', PORT: 7071, TYPE: 'BOX', COMMAND: 'EXCHANGE', CONNECT_WS: 'ws://10.0.0.1:7071/dandelion/box-1/ws/',
    GEOIP: { CITY: 'Taipei', LOC: '25,121' }, 'CPU-USR': 1.5, NOTE: '{"looks":"like json"}',
  });
  if (decoded.kind !== 'EXCHANGE') throw new Error('kind');
  const hash = toHash(decoded.msg);
  t.equal(hash['CPU-USR'], '1.5');
  t.equal(hash.NOTE, '{"looks":"like json"}');
  const back = boxExchangeFromHash(hash);
  t.same(back, decoded.msg);
  t.throws(() => boxExchangeFromHash({ ...hash, GEOIP: 'not json' }), { code: 'E_FORMAT' });
});
