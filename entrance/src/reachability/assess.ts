/**
 * What an EXCHANGE learns of its box's reachability: the last probes of its ports (starting new ones when
 * due), the verdict from them and the box's report, and the sentence of advice. Synchronous: a heartbeat
 * never waits for a probe.
 */
import type { BoxExchange } from '../../../shared/src/protocol/index.js';
import { reachabilityAdvice } from '../../../shared/src/reachability-advice.js';
import { boxReportOf } from './box-report.js';
import type { Reachability } from './prober.js';
import { verdictOf } from './verdict.js';
import type { BoxReport, PortProbe, Verdict } from './verdict.js';

export interface Assessment {
  verdict: Verdict;
  advice: string;
  probes: PortProbe[] | undefined;
}

export function assessReachability(prober: Reachability, msg: BoxExchange, remoteIp: string): Assessment {
  const probes = prober.check(msg.ID, remoteIp, msg);
  const report = boxReportOf(msg);
  const verdict = verdictOf({ peerIp: remoteIp, probes, report });
  const failed = (probes ?? []).filter((p) => p.outcome !== 'ok').map((p) => p.port);
  return { verdict, advice: adviceOf(verdict, report, remoteIp, failed), probes };
}

/** The household's sentence (shared with the box, which shows it before an entrance answers). */
export function adviceOf(verdict: Verdict, report: BoxReport, peerIp: string, failedPorts: readonly number[]): string {
  return reachabilityAdvice({
    verdict: verdict.state,
    ...(verdict.state === 'reachable' ? { method: verdict.method } : {}),
    ...(report.portMapping !== undefined ? { mapping: report.portMapping } : {}),
    ...(report.portMappingError !== undefined ? { mappingError: report.portMappingError } : {}),
    ...(report.lanIp !== undefined ? { lanIp: report.lanIp } : {}),
    ...(report.routerExternalIp !== undefined ? { routerExternalIp: report.routerExternalIp } : {}),
    peerIp,
    ports: failedPorts,
  });
}
