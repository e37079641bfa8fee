/**
 * The box-side port-mapping clients the lab's tests use to check routers: Debian's `upnpc` (miniupnpc,
 * UPnP IGD) and `natpmpc` (libnatpmp), run in the box's namespace.
 */
import type { Home, Lab } from './lab.js';

export interface MappingResult {
  ok: boolean;
  /** The client's whole output, for the test's message. */
  output: string;
}

/** Map external `port` to the box's `port` over UPnP IGD (root description URL given: no SSDP wait). */
export async function upnpMap(lab: Lab, home: Home, port: number, protocol: 'TCP' | 'UDP' = 'TCP'): Promise<MappingResult> {
  const url = home.upnpUrl ?? `http://${home.routerLanIp}:5000/rootDesc.xml`;
  const r = await lab.exec(home.box, ['upnpc', '-u', url, '-e', 'dandelion-lab', '-a', home.boxLanIp, String(port), String(port), protocol, '600'], { timeoutMs: 15_000 });
  const output = r.stdout + r.stderr;
  return { ok: r.code === 0 && /is redirected to internal/.test(output), output };
}

/** Map external `port` to the box's `port` over NAT-PMP, asking the router directly (no gateway guess). */
export async function natPmpMap(lab: Lab, home: Home, port: number, protocol: 'tcp' | 'udp' = 'tcp'): Promise<MappingResult> {
  const r = await lab.exec(home.box, ['natpmpc', '-g', home.routerLanIp, '-a', String(port), String(port), protocol, '600'], { timeoutMs: 15_000 });
  const output = r.stdout + r.stderr;
  return { ok: r.code === 0 && /Mapped public port/.test(output), output };
}

/** Open an IPv6 pinhole to the box's `port` from anywhere over UPnP IGD2 (WANIPv6FirewallControl). */
export async function upnpPinhole(lab: Lab, home: Home, port: number): Promise<MappingResult> {
  if (!home.upnpUrl6 || !home.boxIp6) return { ok: false, output: `a '${home.kind}' home without pinholes has no IPv6 UPnP` };
  // Remote host '' and port 0: any.
  const r = await lab.exec(home.box, ['upnpc', '-6', '-u', home.upnpUrl6, '-A', '', '0', home.boxIp6, String(port), 'TCP', '600'], { timeoutMs: 15_000 });
  const output = r.stdout + r.stderr;
  return { ok: r.code === 0 && /Pinhole ID = \d+/.test(output), output };
}
