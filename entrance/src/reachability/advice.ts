/**
 * The one sentence a household can act on for each verdict, sent to the box (REACHABILITY_ADVICE: its
 * status page shows it) and shown on the dashboard. It names exactly what to do: the protocol, the ports
 * that did not answer and the box's address on the home network.
 *
 * shared/src/reachability-advice.ts (slice "portmap") words the box-side sentences; the two are to become
 * one module, so this one keeps to the same inputs: the verdict, the box's report, the failed probes.
 */
import net from 'node:net';
import type { BoxReport, PortProbe, Verdict } from './verdict.js';

export interface AdviceInput {
  /** The address the box's socket comes from. */
  peerIp: string;
  report: BoxReport;
  /** The probes that did not answer as this box (empty when reachable or checking). */
  failed: readonly PortProbe[];
}

const METHOD_WORDS = { upnp: 'UPnP', 'nat-pmp': 'NAT-PMP', pcp: 'PCP' } as const;

export function adviceFor(verdict: Verdict, input: AdviceInput): string {
  const ports = portList(input.failed);
  const target = input.report.lanIp ?? 'this box';
  switch (verdict.state) {
    case 'checking':
      return 'The entrance is checking whether your box can be reached from the internet.';
    case 'reachable':
      return verdict.method === 'manual' ? 'Your box can be reached from the internet (ports forwarded on the router).'
        : verdict.method === 'ipv6' ? 'Your box can be reached from the internet over IPv6.'
          : `Your box can be reached from the internet (ports mapped by ${METHOD_WORDS[verdict.method]}).`;
    case 'forward-port':
      return forwardPortAdvice(input.report, ports, target);
    case 'cgnat':
      return cgnatAdvice(input);
    case 'firewall':
      return net.isIPv6(input.peerIp)
        ? `Incoming connections to your box's IPv6 address are blocked: allow ${ports} to ${input.peerIp} in your router's IPv6 firewall, or turn on PCP or UPnP.`
        : `Your router forwarded the ports (${mappingWords(input.report)}), but they still cannot be reached from the internet: allow incoming ${ports} to ${target} in the router's firewall and any firewall in front of it.`;
    case 'no-ipv6-route':
      return noRouteAdvice(input, ports);
  }
}

function forwardPortAdvice(report: BoxReport, ports: string, target: string): string {
  const forward = `Forward ${ports} to ${target}`;
  if (report.portMapping === 'off') return `Automatic port forwarding is off on this box (PORT_MAPPING: off). ${forward} on your router.`;
  if (report.portMapping === 'failed') {
    const why = report.portMappingError ? ` (${report.portMappingError})` : '';
    return `Your router refused automatic port forwarding${why}. ${forward}, or allow UPnP or NAT-PMP for this box.`;
  }
  return `Your router does not allow automatic port forwarding. ${forward}, or turn on UPnP.`;
}

function cgnatAdvice({ peerIp, report }: AdviceInput): string {
  const external = report.routerExternalIp;
  const ask = 'ask your internet provider for a public IPv4 address, or use IPv6';
  if (external === undefined || external === '') {
    return `Your router has no public address of its own (your provider shares one between homes: carrier-grade NAT), so no port can be forwarded to your box: ${ask}.`;
  }
  if (isPrivate(external)) {
    return `Your router is behind another router (its external address ${external} is private, the internet sees ${peerIp}): forward the ports on the outer router too, or connect your router straight to the modem.`;
  }
  return `Your internet provider shares one public address between homes (carrier-grade NAT: your router's external address ${external} is not ${peerIp}), so no port can be forwarded to your box: ${ask}.`;
}

function noRouteAdvice({ peerIp, report }: AdviceInput, ports: string): string {
  const lan = report.lanIp;
  if (lan !== undefined && net.isIPv6(lan) && !net.isIPv6(peerIp)) {
    return `Your box has only an IPv6 address (${lan}) but reaches the entrance over IPv4 through your provider's translator, which cannot be reached from outside: give the box a working IPv6 route to the internet, or a public IPv4 address with ${ports} forwarded.`;
  }
  if (lan !== undefined && net.isIPv4(lan) && net.isIPv6(peerIp)) {
    return `Your box (${lan}) reaches the entrance over IPv6 through a translator, so the entrance cannot reach it back at ${peerIp}: give the box its own IPv6 address, or forward ${ports} to ${lan} on IPv4.`;
  }
  return `The entrance has no IPv6 route back to your box at ${peerIp}: check that your router routes its IPv6 prefix to the box and allows ${ports} to it.`;
}

function mappingWords(report: BoxReport): string {
  const m = report.portMapping;
  return m === 'upnp' || m === 'nat-pmp' || m === 'pcp' ? METHOD_WORDS[m] : 'by hand';
}

/** "TCP 7072 and 7071", each port once, in the order probed. */
export function portList(probes: readonly PortProbe[]): string {
  const ports = [...new Set(probes.map((p) => p.port))];
  if (ports.length === 0) return 'the box\'s ports';
  const last = ports.pop();
  return `TCP ${ports.length > 0 ? `${ports.join(', ')} and ${last}` : String(last)}`;
}

const PRIVATE = new net.BlockList();
PRIVATE.addSubnet('10.0.0.0', 8, 'ipv4');
PRIVATE.addSubnet('172.16.0.0', 12, 'ipv4');
PRIVATE.addSubnet('192.168.0.0', 16, 'ipv4');

function isPrivate(ip: string): boolean {
  return net.isIPv4(ip) && PRIVATE.check(ip, 'ipv4');
}
