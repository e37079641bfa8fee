// The entrance answers EXCHANGE through the exchange handler and SEARCH through the search handler, and
// refuses every other kind of message with E_COMMAND before touching anything.
import t from 'tap';
import { ProtocolError, decodeMessage } from '../../../shared/src/protocol/index.js';
import { dispatch } from '../../src/handlers/dispatch.js';
import { handlerContext } from '../../../test/helpers/handler-context.js';
import { boxExchange, searchRequest } from '../../../test/helpers/messages.js';
import { startRedis } from '../../../test/helpers/redis.js';

const peer = { remoteIp: '127.0.0.1' };

t.test('EXCHANGE is accepted and stored, SEARCH then finds the box', async (t) => {
  const redis = await startRedis(t);
  const { ctx, keys } = handlerContext(redis.client());
  const accepted = decodeMessage(await dispatch(decodeMessage(boxExchange('box-dispatch')), peer, ctx));
  t.equal(accepted.kind, 'EXCHANGE_REPLY', 'the exchange handler answered');
  if (accepted.kind !== 'EXCHANGE_REPLY') return;
  t.equal(accepted.msg.MESSAGE, 'ACCEPTED');
  t.same(accepted.msg.ENTRANCE_URLS, [ctx.ownInfo().URL]);
  t.equal(await redis.client().hget(keys.exchange('box-dispatch'), 'ID'), 'box-dispatch', 'the exchange handler stored the box');
  const found = decodeMessage(await dispatch(decodeMessage(searchRequest('publisher-dispatch')), peer, ctx));
  t.equal(found.kind, 'SEARCH_REPLY', 'the search handler answered');
  if (found.kind !== 'SEARCH_REPLY') return;
  t.same(Object.keys(found.msg.BOX_SET), ['box-dispatch'], 'the search handler ranked the box');
});

t.test('any other message is refused with E_COMMAND', async (t) => {
  const redis = await startRedis(t);
  const { ctx } = handlerContext(redis.client());
  const publish = decodeMessage({ ID: 'publisher-x', IP: '127.0.0.1', TYPE: 'PUBLISHER', COMMAND: 'PUBLISH', FILES: [] });
  t.throws(() => dispatch(publish, peer, ctx), ProtocolError);
  t.throws(() => dispatch(publish, peer, ctx), { code: 'E_COMMAND', message: /not PUBLISH/ }, 'the refusal names the command');
});
