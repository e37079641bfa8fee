/**
 * EXCHANGE from a box: store it, refresh its expiry, count its traffic aggregates, and tell it the
 * entrances and its public address.
 */
import type { BoxExchange, ExchangeReply } from '../../../shared/src/protocol/index.js';
import type { PeerContext } from '../../../shared/src/ws-server.js';
import type { EntranceState } from '../state.js';
import { checkAggregates } from '../traffic/fold.js';

export async function handleExchange(msg: BoxExchange, peer: PeerContext, state: EntranceState): Promise<ExchangeReply> {
  const { TRAFFIC_AGGREGATES: aggregates = [], ...exchange } = msg;
  checkAggregates(aggregates); // a refused EXCHANGE stores nothing
  // Aggregates are events, like traffic records: they are counted, not kept in the box's stored exchange
  // (which SEARCH replies hand to publishers).
  // Independent writes: sent together, so a heartbeat costs one round trip for both.
  await Promise.all([state.registry.upsert(exchange, peer.remoteIp || undefined), state.fleet.record(exchange, peer.remoteIp || undefined)]);
  // Before ACCEPTED: the box drops its pending aggregates once accepted. If this throws, the box gets
  // E_INTERNAL and sends them again; the fold counts each aggregate once however often it arrives.
  state.metrics.folded(await state.traffic.fold(msg.ID, aggregates));
  state.metrics.heartbeat();
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
