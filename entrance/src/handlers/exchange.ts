/** EXCHANGE from a box: store it, refresh its expiry, and tell it the entrances and its public address. */
import type { BoxExchange, ExchangeReply } from '../../../shared/src/protocol/index.js';
import type { PeerContext } from '../../../shared/src/ws-server.js';
import type { EntranceState } from '../state.js';

export async function handleExchange(msg: BoxExchange, peer: PeerContext, state: EntranceState): Promise<ExchangeReply> {
  await state.registry.upsert(msg, peer.remoteIp || undefined);
  const reply: ExchangeReply = {
    ...state.ownInfo(),
    TYPE: 'ENTRANCE',
    COMMAND: 'EXCHANGE',
    MESSAGE: 'ACCEPTED',
    ENTRANCE_URLS: state.entranceUrls(),
  };
  if (peer.remoteIp) reply.PUBLIC_IP = peer.remoteIp;
  return reply;
}
