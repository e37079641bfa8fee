/**
 * The one sentence a household reads about whether viewers can reach its box, and what to do if not.
 * The box writes it on its status page before the entrance has answered (its own port mapping failed),
 * the entrance sends it with its verdict (REACHABILITY_ADVICE) and shows it on the dashboard: one
 * module, so the household and the operator read the same words.
 */
import type { PortMappingMethod, ReachabilityMethod, ReachabilityVerdict } from './protocol/index.js';

export interface AdviceInputs {
  verdict: ReachabilityVerdict;
  /** With `reachable`: how viewers reach the box. */
  method?: ReachabilityMethod;
  /** How the box mapped its ports (its PORT_MAPPING); undefined for a box that does not say. */
  mapping?: PortMappingMethod;
  /** The box's address on its home network; undefined when unknown. */
  lanIp?: string;
  /** The box's internal TCP ports viewers and publishers need, in the order a household should forward them. */
  ports: readonly number[];
}

const METHOD_WORDS: Readonly<Record<ReachabilityMethod, string>> = {
  upnp: 'the router forwards its ports (UPnP)',
  'nat-pmp': 'the router forwards its ports (NAT-PMP)',
  pcp: 'the router forwards its ports (PCP)',
  manual: 'its ports are forwarded on the router',
  ipv6: 'it is reached over IPv6',
};

export function reachabilityAdvice(i: AdviceInputs): string {
  const ports = portList(i.ports);
  const to = i.lanIp ? ` to ${i.lanIp}` : ' to this box';
  switch (i.verdict) {
    case 'reachable':
      return `Viewers can reach this box: ${METHOD_WORDS[i.method ?? 'manual']}.`;
    case 'checking':
      return 'The entrance is checking whether viewers can reach this box.';
    case 'forward-port':
      return forwardPortAdvice(i.mapping, ports, to);
    case 'cgnat':
      return 'Your internet provider shares one public address between several homes (carrier-grade NAT), so no one outside can reach this box. Ask your provider for a public IPv4 address, or use IPv6.';
    case 'firewall':
      return `The router forwards the ports, but connections from outside still do not arrive: let ${ports} through the router's firewall${to}.`;
    case 'no-ipv6-route':
      return `Connections from outside do not reach this box's IPv6 address: allow incoming ${ports}${to} in the router's IPv6 firewall, or forward the ports over IPv4.`;
  }
}

function forwardPortAdvice(mapping: PortMappingMethod | undefined, ports: string, to: string): string {
  if (mapping === 'off') return `Automatic port forwarding is off in this box's config (PORT_MAPPING: off). Forward ${ports}${to} on your router.`;
  if (mapping === 'none' || mapping === 'failed') return `Your router does not allow automatic port forwarding. Forward ${ports}${to}, or turn on UPnP.`;
  return `Viewers cannot reach this box. Forward ${ports}${to} on your router.`;
}

/** "TCP 7072", "TCP 7072 and 7071", "TCP 7072, 7071 and 7073" (each port once). */
export function portList(ports: readonly number[]): string {
  const unique = [...new Set(ports)];
  if (unique.length <= 1) return `TCP ${unique.join('')}`;
  return `TCP ${unique.slice(0, -1).join(', ')} and ${unique[unique.length - 1]}`;
}
