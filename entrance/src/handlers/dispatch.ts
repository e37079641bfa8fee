/** Which handler answers a decoded message: EXCHANGE and CERTIFY from boxes, SEARCH from publishers; anything else is refused. */
import { ProtocolError } from '../../../shared/src/protocol/index.js';
import type { Decoded, Envelope } from '../../../shared/src/protocol/index.js';
import type { HandlerContext } from '../context.js';
import { handleExchange } from './exchange.js';
import type { Peer } from './exchange.js';
import { handleSearch } from './search.js';
import { handleCertify } from './certify.js';

export function dispatch(decoded: Decoded, peer: Peer, ctx: HandlerContext): Promise<Envelope> {
  switch (decoded.kind) {
    case 'EXCHANGE':
      return handleExchange(decoded.msg, peer, ctx);
    case 'SEARCH':
      return handleSearch(decoded.msg, peer, ctx);
    case 'CERTIFY':
      return handleCertify(decoded.msg, peer, ctx);
    default:
      throw new ProtocolError('E_COMMAND', `an entrance answers EXCHANGE and CERTIFY from boxes and SEARCH from publishers, not ${decoded.kind}`);
  }
}
