/**
 * What the box does when an entrance accepts its EXCHANGE: says so on the status page (or that the
 * entrance could not reach its viewer port), drops the acknowledged traffic aggregates, and takes the
 * public address the entrance saw; a new address is announced at once and, when it changed, the
 * capacity is measured again (it may be another line now).
 */
import type { Logger } from '../../../shared/src/log.js';
import type { BoxExchange, ExchangeReply } from '../../../shared/src/protocol/index.js';
import type { BoxStatus } from '../status/box-status.js';
import type { BoxAddress } from './box-address.js';

export interface AcceptedDeps {
  address: BoxAddress;
  boxStatus: BoxStatus;
  /** Drop these aggregates from the traffic waiting to go. */
  acknowledge(aggregateIds: string[]): Promise<void>;
  /** Send an EXCHANGE on every link now. */
  beatAll(): void;
  /** Start a capacity test (its failures are its own). */
  remeasure(): void;
  log: Logger;
}

export function exchangeAccepted(deps: AcceptedDeps): (reply: ExchangeReply, sent: BoxExchange, url: string) => Promise<void> {
  const { address, boxStatus, log } = deps;
  return async (reply, sent, url) => {
    if (reply.REACHABLE === false) {
      boxStatus.set('ports-unreachable', `registered with ${url}, but it cannot reach ${address.httpUrl()} at ${reply.PUBLIC_IP ?? 'the public address'}: forward BOX_HTTP_PORT ${address.httpPort} on the router`);
    } else {
      boxStatus.set('registered', `registered with ${url}`);
    }
    if (sent.TRAFFIC_AGGREGATES?.length) await deps.acknowledge(sent.TRAFFIC_AGGREGATES.map((a) => a.ID));
    const learnt = address.learnPublicIp(reply.PUBLIC_IP);
    if (learnt === undefined) return;
    log.info({ publicIp: reply.PUBLIC_IP }, learnt === 'first' ? 'public address learnt from the entrance' : 'public address changed');
    if (!address.fixed) deps.beatAll();
    if (learnt === 'changed') deps.remeasure();
  };
}
