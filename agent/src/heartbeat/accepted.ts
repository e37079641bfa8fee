/**
 * What the box does when an entrance accepts its EXCHANGE: says so on the status page, with the
 * entrance's verdict on whether viewers reach the box and its advice (an entrance that gives no verdict
 * only says whether it reached the viewer port), drops the acknowledged traffic aggregates, and takes the
 * public address the entrance saw; a new address is announced at once and, when it changed, the
 * capacity is measured again (it may be another line now).
 */
import type { Logger } from '../../../shared/src/log.js';
import type { BoxExchange, ErrorReply, ExchangeReply, ReachabilityMethod, ReachabilityVerdict } from '../../../shared/src/protocol/index.js';
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
  /** The household's sentence for a verdict the entrance sent without advice (shared/src/reachability-advice.ts with the box's own facts). */
  adviceFor(verdict: ReachabilityVerdict, method: ReachabilityMethod | undefined): string;
  log: Logger;
}

export function exchangeAccepted(deps: AcceptedDeps): (reply: ExchangeReply, sent: BoxExchange, url: string) => Promise<void> {
  const { address, log } = deps;
  return async (reply, sent, url) => {
    showVerdict(reply, url, deps);
    if (sent.TRAFFIC_AGGREGATES?.length) await deps.acknowledge(sent.TRAFFIC_AGGREGATES.map((a) => a.ID));
    const learnt = address.learnPublicIp(reply.PUBLIC_IP);
    if (learnt === undefined) return;
    log.info({ publicIp: reply.PUBLIC_IP }, learnt === 'first' ? 'public address learnt from the entrance' : 'public address changed');
    if (!address.fixed) deps.beatAll();
    if (learnt === 'changed') deps.remeasure();
  };
}

/** The status page's code, detail and advice for the entrance's verdict. */
function showVerdict(reply: ExchangeReply, url: string, deps: Pick<AcceptedDeps, 'address' | 'boxStatus' | 'adviceFor'>): void {
  const { address, boxStatus } = deps;
  const verdict = reply.REACHABILITY;
  if (verdict === undefined) {
    // An entrance from before verdicts: REACHABLE alone.
    boxStatus.advise('entrance', '');
    if (reply.REACHABLE === false) {
      boxStatus.set('ports-unreachable', `registered with ${url}, but it cannot reach ${address.httpUrl()} at ${reply.PUBLIC_IP ?? 'the public address'}: forward BOX_HTTP_PORT ${address.httpPort} on the router`);
    } else {
      boxStatus.set('registered', `registered with ${url}`);
    }
    return;
  }
  const advice = reply.REACHABILITY_ADVICE ?? deps.adviceFor(verdict, reply.REACHABILITY_METHOD);
  boxStatus.advise('entrance', advice);
  if (verdict === 'reachable' || verdict === 'checking') boxStatus.set('registered', `registered with ${url}: ${advice}`);
  else boxStatus.set('ports-unreachable', advice);
}

/**
 * An entrance refused an EXCHANGE because its URLs do not name the address the box's socket comes from
 * (E_ADDRESS): a box that did not know its public address yet (it starts with its bind address) takes
 * the one the refusal names, and its next EXCHANGE announces it. A fixed BOX_CLIENT_IP is the operator's
 * to correct, so it is only logged.
 */
export function exchangeRefused(deps: Pick<AcceptedDeps, 'address' | 'log'>): (reply: ErrorReply, url: string) => void {
  const { address, log } = deps;
  return (reply, url) => {
    if (reply.ERROR_CODE !== 'E_ADDRESS') return;
    if (reply.ERROR.includes('HTTPS_URL:') && address.httpsName !== undefined) {
      // The entrance no longer names the box so (its BOX_DOMAIN changed or went): stop announcing the
      // name, so the next heartbeat is taken; a new BOX_NAME brings a new certificate.
      log.warn({ entrance: url, httpsName: address.httpsName, error: reply.ERROR.slice(0, 300) }, 'the entrance refused HTTPS_URL; no longer announced');
      address.httpsName = undefined;
      return;
    }
    if (address.fixed) {
      log.error({ entrance: url, publicIp: reply.PUBLIC_IP }, 'BOX_CLIENT_IP is not the address the entrance sees this box connect from');
      return;
    }
    if (address.learnPublicIp(reply.PUBLIC_IP) !== undefined) log.info({ entrance: url, publicIp: reply.PUBLIC_IP }, 'public address learnt from a refused EXCHANGE');
  };
}
