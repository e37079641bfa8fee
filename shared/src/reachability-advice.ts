/**
 * The one sentence a household reads about whether viewers can reach its box, and what to do if not.
 * The entrance sends it with its verdict (REACHABILITY_ADVICE) and shows it on the dashboard; the box
 * writes it on its status page before an entrance has answered (its own port mapping failed) and when an
 * entrance sent a verdict without one. One module, so the household and the operator read the same words.
 * Each sentence names exactly what to do: the protocol, the ports, the box's address on the home network.
 */
import net from 'node:net';
import type { PortMappingMethod, ReachabilityMethod, ReachabilityVerdict } from './protocol/index.js';

export interface AdviceInputs {
  verdict: ReachabilityVerdict;
  /** With `reachable`: how viewers reach the box. */
  method?: ReachabilityMethod;
  /** How the box mapped its ports (its PORT_MAPPING); undefined for a box that does not say. */
  mapping?: PortMappingMethod;
  /** What the router answered when it refused (PORT_MAPPING_ERROR). */
  mappingError?: string;
  /** The box's address on its home network; undefined when unknown. */
  lanIp?: string;
  /** The external address the router reports; '' when it reports none. */
  routerExternalIp?: string;
  /** The address the entrance sees the box's socket come from; undefined on the box before an answer. */
  peerIp?: string;
  /** The TCP ports to open, in the order a household should forward them (the entrance: those that failed). */
  ports: readonly number[];
}

const METHOD_WORDS = { upnp: 'UPnP', 'nat-pmp': 'NAT-PMP', pcp: 'PCP' } as const;

export function reachabilityAdvice(i: AdviceInputs): string {
  const ports = portList(i.ports);
  const target = i.lanIp ?? 'this box';
  switch (i.verdict) {
    case 'checking':
      return 'The entrance is checking whether your box can be reached from the internet.';
    case 'reachable':
      return reachableWords(i.method ?? 'manual');
    case 'forward-port':
      return forwardPortAdvice(i, ports, target);
    case 'cgnat':
      return cgnatAdvice(i);
    case 'firewall':
      return i.peerIp !== undefined && net.isIPv6(i.peerIp)
        ? `Incoming connections to your box's IPv6 address are blocked: allow ${ports} to ${i.peerIp} in your router's IPv6 firewall, or turn on PCP or UPnP.`
        : `Your router forwarded the ports (${mappingWords(i.mapping)}), but they still cannot be reached from the internet: allow incoming ${ports} to ${target} in the router's firewall and any firewall in front of it.`;
    case 'no-ipv6-route':
      return noRouteAdvice(i, ports);
  }
}

function reachableWords(method: ReachabilityMethod): string {
  if (method === 'manual') return 'Your box can be reached from the internet (ports forwarded on the router).';
  if (method === 'ipv6') return 'Your box can be reached from the internet over IPv6.';
  return `Your box can be reached from the internet (ports mapped by ${METHOD_WORDS[method]}).`;
}

function forwardPortAdvice(i: AdviceInputs, ports: string, target: string): string {
  const forward = `Forward ${ports} to ${target}`;
  if (i.mapping === 'off') return `Automatic port forwarding is off on this box (PORT_MAPPING: off). ${forward} on your router.`;
  if (i.mapping === 'failed') {
    const why = i.mappingError ? ` (${i.mappingError})` : '';
    return `Your router refused automatic port forwarding${why}. ${forward}, or allow UPnP or NAT-PMP for this box.`;
  }
  return `Your router does not allow automatic port forwarding. ${forward}, or turn on UPnP.`;
}

function cgnatAdvice({ peerIp, routerExternalIp: external }: AdviceInputs): string {
  const ask = 'ask your internet provider for a public IPv4 address, or use IPv6';
  if (external === undefined || external === '') {
    return `Your router has no public address of its own (your provider shares one between homes: carrier-grade NAT), so no port can be forwarded to your box: ${ask}.`;
  }
  const seen = peerIp ?? 'another address';
  if (isPrivate(external)) {
    return `Your router is behind another router (its external address ${external} is private, the internet sees ${seen}): forward the ports on the outer router too, or connect your router straight to the modem.`;
  }
  return `Your internet provider shares one public address between homes (carrier-grade NAT: your router's external address ${external} is not ${seen}), so no port can be forwarded to your box: ${ask}.`;
}

function noRouteAdvice({ peerIp, lanIp: lan }: AdviceInputs, ports: string): string {
  if (lan !== undefined && net.isIPv6(lan) && (peerIp === undefined || !net.isIPv6(peerIp))) {
    return `Your box has only an IPv6 address (${lan}) but reaches the entrance over IPv4 through your provider's translator, which cannot be reached from outside: give the box a working IPv6 route to the internet, or a public IPv4 address with ${ports} forwarded.`;
  }
  if (lan !== undefined && net.isIPv4(lan) && peerIp !== undefined && net.isIPv6(peerIp)) {
    return `Your box (${lan}) reaches the entrance over IPv6 through a translator, so the entrance cannot reach it back at ${peerIp}: give the box its own IPv6 address, or forward ${ports} to ${lan} on IPv4.`;
  }
  return `The entrance has no IPv6 route back to your box${peerIp ? ` at ${peerIp}` : ''}: check that your router routes its IPv6 prefix to the box and allows ${ports} to it.`;
}

function mappingWords(m: PortMappingMethod | undefined): string {
  return m === 'upnp' || m === 'nat-pmp' || m === 'pcp' ? METHOD_WORDS[m] : 'by hand';
}

/** "TCP 7072", "TCP 7072 and 7071", "TCP 7072, 7071 and 7073" (each port once, in the order given). */
export function portList(ports: readonly number[]): string {
  const unique = [...new Set(ports)];
  const last = unique.pop();
  if (last === undefined) return "the box's ports";
  return `TCP ${unique.length > 0 ? `${unique.join(', ')} and ${last}` : String(last)}`;
}

const PRIVATE = new net.BlockList();
PRIVATE.addSubnet('10.0.0.0', 8, 'ipv4');
PRIVATE.addSubnet('172.16.0.0', 12, 'ipv4');
PRIVATE.addSubnet('192.168.0.0', 16, 'ipv4');

function isPrivate(ip: string): boolean {
  return net.isIPv4(ip) && PRIVATE.check(ip, 'ipv4');
}
