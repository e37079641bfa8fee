/**
 * Whether the URLs a box announces (CONNECT_WS, HTTP_URL) point at the box itself: their host must be the
 * address its socket comes from (after TRUSTED_PROXIES, as everywhere), or a name that resolves there.
 * Otherwise an enrolled box, or whoever took one over, could send publishers and viewers to any server. A
 * loopback or wildcard host is taken only from a loopback peer (the demo and tests, where everything is
 * 127.0.0.1). Names are looked up with a timeout and the answers kept briefly, so a heartbeat costs no DNS
 * query most of the time and a slow resolver cannot hold heartbeats for long.
 */
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { normaliseIp } from '../../../shared/src/peer-address.js';

const LOOKUP_TIMEOUT_MS = 2_000;
const CACHE_MS = 60_000;
/** Names remembered at most; the oldest are forgotten first, so strangers' names cannot grow it without bound. */
const MAX_CACHED = 10_000;

export type Resolve = (name: string) => Promise<string[]>;

/** The addresses a name resolves to, by the system's resolver (as the publisher and viewers would resolve it). */
export const systemResolve: Resolve = async (name) => (await lookup(name, { all: true, verbatim: true })).map((a) => a.address);

/** normaliseIp, plus the form URL parsing gives an IPv4-mapped IPv6 host (`[::ffff:cb00:7105]`). */
function hostAddress(host: string): string {
  const ip = normaliseIp(host);
  const [, hi, lo] = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(ip) ?? [];
  if (hi === undefined || lo === undefined) return ip;
  const n = (parseInt(hi, 16) << 16) + parseInt(lo, 16);
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

const isLoopback = (ip: string): boolean => ip === '::1' || ip.startsWith('127.');
const isLoopbackOrWildcard = (ip: string): boolean => isLoopback(ip) || ip === '::' || ip === '0.0.0.0';

export class VouchedAddresses {
  private readonly cache = new Map<string, { addresses: string[]; until: number }>();

  constructor(
    private readonly resolve: Resolve = systemResolve,
    private readonly now: () => number = Date.now,
  ) {}

  /** Undefined when `url`'s host is the peer's address (or resolves there); otherwise why not. */
  async refusal(url: string, remoteIp: string): Promise<string | undefined> {
    let host: string;
    try {
      host = new URL(url).hostname;
    } catch {
      return 'is not a URL';
    }
    const peer = normaliseIp(remoteIp);
    if (peer === '') return undefined; // no peer address to compare with (a socket without one): nothing to vouch against
    const literal = hostAddress(host);
    const addresses = literal !== '' ? [literal] : await this.lookup(host);
    if (addresses === undefined || addresses.length === 0) return `host ${host} does not resolve (within ${LOOKUP_TIMEOUT_MS / 1000} s)`;
    const loopbackPeer = isLoopback(peer);
    if (addresses.some((a) => a === peer || (loopbackPeer && isLoopbackOrWildcard(a)))) return undefined;
    return `host ${host} is not the address this box connects from (${peer})${literal === '' ? ` but ${addresses.slice(0, 4).join(', ')}` : ''}`;
  }

  private async lookup(name: string): Promise<string[] | undefined> {
    const hit = this.cache.get(name);
    if (hit !== undefined && hit.until > this.now()) return hit.addresses;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), LOOKUP_TIMEOUT_MS);
    });
    const found = await Promise.race([this.resolve(name).catch((): string[] => []), timeout]).finally(() => clearTimeout(timer));
    if (found === undefined) return undefined;
    const addresses = found.map(normaliseIp).filter((a) => net.isIP(a) !== 0);
    this.cache.delete(name);
    this.cache.set(name, { addresses, until: this.now() + CACHE_MS });
    const oldest = this.cache.keys().next();
    if (this.cache.size > MAX_CACHED && !oldest.done) this.cache.delete(oldest.value);
    return addresses;
  }
}
