/**
 * The home router: the gateway of the box's default IPv4 route, read from the kernel's routing table
 * (/proc/net/route). Port mapping is an IPv4 affair (NAT); an IPv6 box has nothing to map.
 */
import { readFile } from 'node:fs/promises';

export interface DefaultGateway {
  /** The interface the default route leaves by. */
  iface: string;
  /** The gateway's IPv4 address. */
  address: string;
}

const RTF_UP = 0x1;
const RTF_GATEWAY = 0x2;

/** The default route with the lowest metric in /proc/net/route's text; undefined when there is none. */
export function parseDefaultGateway(table: string): DefaultGateway | undefined {
  let best: (DefaultGateway & { metric: number }) | undefined;
  for (const line of table.split('\n').slice(1)) {
    const [iface, destination, gateway, flags, , , metric, mask] = line.trim().split(/\s+/);
    if (!iface || !gateway || destination !== '00000000' || mask !== '00000000') continue;
    const f = Number.parseInt(flags ?? '', 16);
    if ((f & RTF_UP) === 0 || (f & RTF_GATEWAY) === 0) continue;
    const address = hexToIpv4(gateway);
    const m = Number(metric);
    if (address === undefined || address === '0.0.0.0' || !Number.isFinite(m)) continue;
    if (best === undefined || m < best.metric) best = { iface, address, metric: m };
  }
  return best && { iface: best.iface, address: best.address };
}

/** The kernel writes addresses as the hex of the 32-bit word in host order (little-endian on ARM and x86). */
function hexToIpv4(hex: string): string | undefined {
  if (!/^[0-9A-Fa-f]{8}$/.test(hex)) return undefined;
  const n = Number.parseInt(hex, 16);
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24].join('.');
}

export async function readDefaultGateway(file = '/proc/net/route'): Promise<DefaultGateway | undefined> {
  return parseDefaultGateway(await readFile(file, 'utf8').catch(() => ''));
}
