/**
 * One verdict on a box's reachability, from what the entrance's probes saw at the address the box's socket
 * comes from and what the box reports of its home network. Pure: no I/O, so every combination is a unit test
 * (entrance/test/reachability/verdict.test.ts). The connect-back decides whether a box is reachable; the
 * box's report only explains why not, because a router can say it mapped a port that nobody outside reaches
 * (a carrier NAT in front of it, a firewall) and a port forwarded by hand is invisible to the box.
 *
 * Rules, first match wins (the README's "Boxes at home" table is this list):
 *   checking       no probe has finished yet for the box's current address and ports;
 *   reachable      every probed port answered as this box; method: the box's PORT_MAPPING when it is
 *                  upnp | nat-pmp | pcp, else `ipv6` when the box's socket comes over IPv6, else `manual`;
 *   no-ipv6-route  the box's LAN_IP and the address its socket comes from are of different families (its
 *                  traffic to the entrance is translated: NAT64/DS-Lite, or the reverse, so the address the
 *                  entrance sees is the translator's, not the box's), or the socket comes over IPv6 and the
 *                  probe found no route back (ENETUNREACH/EHOSTUNREACH);
 *   cgnat          over IPv4 only: the router's external address (ROUTER_EXTERNAL_IP) differs from the
 *                  socket's address or lies in 100.64.0.0/10, or the router refused to map
 *                  (PORT_MAPPING failed) reporting no external address (ROUTER_EXTERNAL_IP absent or ''):
 *                  miniupnpd behind a carrier NAT answers so (error 501, empty external address). A private
 *                  external address (a second router inside the home) differs from the peer too: cgnat,
 *                  whose advice names the address;
 *   firewall       the router mapped the ports (upnp | nat-pmp | pcp), or the socket comes over IPv6 (no
 *                  NAT to forward through, only a firewall to open), and still the probe fails;
 *   forward-port   otherwise: IPv4, no mapping (none | failed | off | not reported), and the probe fails.
 */
import net from 'node:net';
import { normaliseIp } from '../../../shared/src/peer-address.js';

/** The words of the box's PORT_MAPPING and of the verdict are the codec's (shared/src/protocol/messages.ts). */
export { PORT_MAPPING_METHODS as PORT_MAPPINGS, REACHABILITY_METHODS, REACHABILITY_VERDICTS as REACHABILITY_STATES } from '../../../shared/src/protocol/index.js';
export type { PortMappingMethod as PortMapping, ReachabilityMethod, ReachabilityVerdict as ReachabilityState } from '../../../shared/src/protocol/index.js';
import type { PortMappingMethod as PortMapping, ReachabilityMethod, ReachabilityVerdict as ReachabilityState } from '../../../shared/src/protocol/index.js';

/** What the entrance probes: the viewer port (HTTP_URL), the publisher port (CONNECT_WS), HTTPS (HTTPS_URL). */
export type PortRole = 'viewer' | 'publisher' | 'https';

/**
 * How one probe ended: `ok` (answered as this box); `refused` (connection refused); `timeout` (nothing
 * answered: dropped by a firewall or no forwarding); `no-route` (ENETUNREACH/EHOSTUNREACH); `wrong-answer`
 * (something answered, but not as this box: the port is forwarded to another device, or another service);
 * `tls-failed` (connected, but no TLS handshake).
 */
export type ProbeOutcome = 'ok' | 'refused' | 'timeout' | 'no-route' | 'wrong-answer' | 'tls-failed';

export interface PortProbe {
  role: PortRole;
  /** The external port probed (from the box's announced URL). */
  port: number;
  outcome: ProbeOutcome;
}

/** What the box says of its home network (EXCHANGE LAN_IP, PORT_MAPPING, PORT_MAPPING_ERROR, ROUTER_EXTERNAL_IP). */
export interface BoxReport {
  lanIp?: string;
  portMapping?: PortMapping;
  portMappingError?: string;
  /** '' when the router reported no external address. */
  routerExternalIp?: string;
}

export type Verdict =
  | { state: 'reachable'; method: ReachabilityMethod }
  | { state: Exclude<ReachabilityState, 'reachable'> };

export interface VerdictInput {
  /** The address the box's socket comes from (what was probed). */
  peerIp: string;
  /** The finished probes of the box's current ports; undefined while none has finished. */
  probes: readonly PortProbe[] | undefined;
  report: BoxReport;
}

const MAPPED: ReadonlySet<PortMapping> = new Set(['upnp', 'nat-pmp', 'pcp']);
const CARRIER_NAT = new net.BlockList();
CARRIER_NAT.addSubnet('100.64.0.0', 10, 'ipv4');

export function verdictOf({ peerIp, probes, report }: VerdictInput): Verdict {
  if (probes === undefined || probes.length === 0) return { state: 'checking' };
  const peer = normaliseIp(peerIp);
  const peerFamily = familyOf(peer);
  if (probes.every((p) => p.outcome === 'ok')) return { state: 'reachable', method: methodOf(report, peerFamily) };
  const lanFamily = familyOf(normaliseIp(report.lanIp ?? ''));
  if (lanFamily !== undefined && peerFamily !== undefined && lanFamily !== peerFamily) return { state: 'no-ipv6-route' };
  if (peerFamily === 6 && probes.some((p) => p.outcome === 'no-route')) return { state: 'no-ipv6-route' };
  if (peerFamily === 4 && behindCarrierNat(peer, report)) return { state: 'cgnat' };
  const mapped = report.portMapping !== undefined && MAPPED.has(report.portMapping);
  if (mapped || peerFamily === 6) return { state: 'firewall' };
  return { state: 'forward-port' };
}

function methodOf(report: BoxReport, peerFamily: 4 | 6 | undefined): ReachabilityMethod {
  const mapping = report.portMapping;
  if (mapping === 'upnp' || mapping === 'nat-pmp' || mapping === 'pcp') return mapping;
  return peerFamily === 6 ? 'ipv6' : 'manual';
}

/** Whether the router's own report shows a carrier NAT between it and the entrance (see the rules above). */
export function behindCarrierNat(peer: string, report: BoxReport): boolean {
  const external = normaliseIp(report.routerExternalIp ?? '');
  if (external === '') return report.portMapping === 'failed';
  return net.isIPv4(external) && (external !== peer || CARRIER_NAT.check(external, 'ipv4'));
}

function familyOf(ip: string): 4 | 6 | undefined {
  const family = net.isIP(ip);
  return family === 4 || family === 6 ? family : undefined;
}
