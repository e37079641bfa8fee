/**
 * What an EXCHANGE learns of its box's reachability: the last probes of its ports (starting new ones when
 * due), the verdict from them and the box's report, and the sentence of advice. Synchronous: a heartbeat
 * never waits for a probe.
 */
import type { BoxExchange } from '../../../shared/src/protocol/index.js';
import { adviceFor } from './advice.js';
import { boxReportOf } from './box-report.js';
import type { Reachability } from './prober.js';
import { verdictOf } from './verdict.js';
import type { PortProbe, Verdict } from './verdict.js';

export interface Assessment {
  verdict: Verdict;
  advice: string;
  probes: PortProbe[] | undefined;
}

export function assessReachability(prober: Reachability, msg: BoxExchange, remoteIp: string): Assessment {
  const probes = prober.check(msg.ID, remoteIp, msg);
  const report = boxReportOf(msg);
  const verdict = verdictOf({ peerIp: remoteIp, probes, report });
  const failed = (probes ?? []).filter((p) => p.outcome !== 'ok');
  return { verdict, advice: adviceFor(verdict, { peerIp: remoteIp, report, failed }), probes };
}
