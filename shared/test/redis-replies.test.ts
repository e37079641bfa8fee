// Replies of the shapes each decoder names come back typed; any other shape is a RedisReplyError, and a
// failed command in a pipeline is thrown as its own error.
import t from 'tap';
import { RedisReplyError, integers, repliesOf, stringHash, textOrNull, textPairs, texts, textsOrNull } from '../src/redis-replies.js';
import { startRedis } from '../../test/helpers/redis.js';

t.test('each decoder takes its shape and refuses others', async (t) => {
  const refused = (fn: () => unknown, why: string): void => {
    t.throws(fn, RedisReplyError, why);
  };
  t.equal(textOrNull('x'), 'x');
  t.equal(textOrNull(null), null);
  refused(() => textOrNull(3), 'a number is not a bulk string');
  t.same(texts(['a', 'b']), ['a', 'b']);
  t.same(texts([]), []);
  refused(() => texts(['a', null]), 'a nil among strings');
  refused(() => texts('a'), 'a string is not an array');
  t.same(textsOrNull(['1', null]), ['1', null]);
  refused(() => textsOrNull([1]), 'a number among strings');
  t.same(stringHash({ a: '1', b: '2' }), { a: '1', b: '2' });
  refused(() => stringHash({ a: 1 }), 'a field that is not a string');
  refused(() => stringHash(['a', '1']), 'an array is not a hash');
  refused(() => stringHash(null), 'nil is not a hash');
  t.same(textPairs([['box-a', '1.5'], ['box-b', '2']]), [['box-a', '1.5'], ['box-b', '2']]);
  refused(() => textPairs([['box-a']]), 'a row of one');
  refused(() => textPairs([['box-a', 2]]), 'a pair with a number');
  t.same(integers([3, 0]), [3, 0]);
  refused(() => integers([1.5]), 'not whole');
  refused(() => integers(['1']), 'a string is not an integer');
});

t.test('a pipeline\'s replies, or the first command error', async (t) => {
  const redis = (await startRedis(t)).client();
  await redis.set('plain', 'x');
  t.same(repliesOf(await redis.pipeline().get('plain').hgetall('missing').exec()), ['x', {}]);
  t.throws(() => repliesOf(null), RedisReplyError, 'an aborted transaction');
  const failed = await redis.pipeline().get('plain').hget('plain', 'field').exec();
  t.throws(() => repliesOf(failed), /WRONGTYPE/, 'the failed command\'s own error');
});
