/**
 * Who is on the other end of a request: the socket's own address (or, when a TCP balancer listed in
 * PROXY_PROTOCOL_FROM opened the connection, the client its PROXY header named), or, only when that
 * address is one of the operator's TRUSTED_PROXIES, the client the proxy says it forwards. Anyone can write
 * X-Forwarded-For or X-Real-IP, so a header counts only when a trusted proxy delivered it, and then
 * X-Forwarded-For is walked from the right: each proxy appends the peer it saw, so the right-most
 * address that is not one of our proxies is the last one nobody we trust could have made up. Addresses
 * are compared normalised (IPv4-mapped IPv6 as plain IPv4, no zone, lower case), and ranges are CIDRs
 * for IPv4 or IPv6, matched by Node's own net.BlockList.
 */
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import { messageOf } from './protocol/errors.js';

export interface TrustedProxies {
  /** Whether this (normalised) address is one of the trusted proxies. */
  has(ip: string): boolean;
  /** The entries it was built from, for logs. */
  readonly entries: readonly string[];
}

/** `::ffff:1.2.3.4` → `1.2.3.4`, `fe80::1%eth0` → `fe80::1`, upper-case hex → lower case; '' when not an address. */
export function normaliseIp(raw: string): string {
  let s = raw.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  s = s.toLowerCase();
  const [, mappedV4] = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(s) ?? [];
  if (mappedV4 !== undefined) s = mappedV4;
  return net.isIP(s) === 0 ? '' : s;
}

/** undefined when `s` is an address or a CIDR (`10.0.0.0/8`, `fd00::/8`); otherwise what is wrong (config check). */
export function checkAddressOrCidr(s: string): string | undefined {
  try {
    parseEntry(s);
    return undefined;
  } catch (err) {
    return messageOf(err);
  }
}

function parseEntry(entry: string): { ip: string; family: 'ipv4' | 'ipv6'; prefix: number | undefined } {
  const [addr = '', bits, extra] = entry.trim().split('/');
  const ip = normaliseIp(addr);
  if (ip === '' || extra !== undefined) throw new Error('must be an IP address or a CIDR such as 10.0.0.0/8 or fd00::/8');
  const family = net.isIPv4(ip) ? 'ipv4' : 'ipv6';
  if (bits === undefined) return { ip, family, prefix: undefined };
  const max = family === 'ipv4' ? 32 : 128;
  // A mapped IPv4 range written as IPv6 (::ffff:10.0.0.0/104) is the IPv4 range /8.
  const shift = family === 'ipv4' && addr.includes(':') ? 96 : 0;
  const prefix = /^\d{1,3}$/.test(bits) ? Number(bits) - shift : NaN;
  if (!(prefix >= 0 && prefix <= max)) throw new Error(`the prefix after / must be 0-${max + shift}`);
  return { ip, family, prefix };
}

/** A matcher for TRUSTED_PROXIES; throws on an entry that is neither an address nor a CIDR. */
export function trustedProxies(entries: readonly string[]): TrustedProxies {
  const list = new net.BlockList();
  for (const entry of entries) {
    const { ip, family, prefix } = parseEntry(entry);
    if (prefix === undefined) list.addAddress(ip, family);
    else list.addSubnet(ip, prefix, family);
  }
  return {
    entries: [...entries],
    has: (raw) => {
      const ip = normaliseIp(raw);
      return ip !== '' && list.check(ip, net.isIPv4(ip) ? 'ipv4' : 'ipv6');
    },
  };
}

/** Nobody: forwarded headers are never read (the default, and the publisher's web server). */
export const NO_PROXIES: TrustedProxies = trustedProxies([]);
/** This machine only: the box's own nginx, which proxies /dandelion/<box>/ws/ to the agent. */
export const LOOPBACK_PROXIES: TrustedProxies = trustedProxies(['127.0.0.0/8', '::1']);

/**
 * Clients named by a PROXY protocol header (shared/src/proxy-accept.ts), by the TCP socket it arrived on.
 * Kept beside the socket rather than on it, so nothing else can write it; a WeakMap, so it goes with the socket.
 */
const proxiedClients = new WeakMap<object, string>();

/** Record the client a trusted balancer's PROXY header named for this (raw TCP) socket. */
export function rememberProxiedClient(socket: net.Socket, ip: string): void {
  proxiedClients.set(socket, ip);
}

/**
 * The client at the far end of this socket: the one a trusted balancer's PROXY header named for it, else
 * the socket's own address, normalised. Over TLS the socket is a TLSSocket wrapping the raw TCP socket
 * the header came on (its `_parent`, not public API, read here without trusting its shape).
 */
export function connectionAddressOf(socket: net.Socket): string {
  const parent: unknown = Reflect.get(socket, '_parent');
  const proxied = proxiedClients.get(socket) ?? (typeof parent === 'object' && parent !== null ? proxiedClients.get(parent) : undefined);
  return proxied ?? normaliseIp(socket.remoteAddress ?? '');
}

/**
 * The address of the connection itself, normalised: the socket's, or the client a trusted TCP balancer
 * named in its PROXY header (which describes the connection, not a request); forwarded headers never count here.
 */
export function socketAddressOf(req: IncomingMessage): string {
  return connectionAddressOf(req.socket);
}

function headerText(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/**
 * The client's address. From a peer that is not a trusted proxy: the socket's address, whatever the
 * headers say. From a trusted proxy: the right-most X-Forwarded-For entry that is not itself a trusted
 * proxy (all of them trusted: the left-most, the furthest the chain goes back); without
 * X-Forwarded-For, X-Real-IP; a header that does not parse as an address is ignored, leaving the proxy's own.
 */
export function remoteIpOf(req: IncomingMessage, trusted: TrustedProxies): string {
  const peer = socketAddressOf(req);
  if (!trusted.has(peer)) return peer;
  const forwarded = headerText(req, 'x-forwarded-for');
  if (forwarded !== undefined) {
    const chain = forwarded.split(',').map(normaliseIp);
    let furthest = peer;
    for (const hop of chain.reverse()) {
      // A hop we cannot read ends the walk: what lies left of it was written by someone we cannot vouch for.
      if (hop === '') return furthest;
      if (!trusted.has(hop)) return hop;
      furthest = hop;
    }
    return furthest;
  }
  const real = normaliseIp(headerText(req, 'x-real-ip') ?? '');
  return real !== '' ? real : peer;
}

/**
 * Whether the client's request reached us over TLS: on a TLS socket of our own, or through a trusted
 * proxy that says X-Forwarded-Proto: https (its right-most value, the proxy's own). Decides `Secure` cookies.
 */
export function arrivedOverTls(req: IncomingMessage, trusted: TrustedProxies): boolean {
  if ('encrypted' in req.socket && req.socket.encrypted === true) return true;
  if (!trusted.has(socketAddressOf(req))) return false;
  const proto = headerText(req, 'x-forwarded-proto')?.split(',').pop()?.trim().toLowerCase();
  return proto === 'https';
}

/**
 * The block of addresses one client plausibly holds, for per-client limits: an IPv4 address itself, an
 * IPv6 address's /64 (a home or a server is routinely given a whole /64, so limits per single IPv6
 * address would limit nothing).
 */
export function clientBlockOf(ip: string): string {
  if (!net.isIPv6(ip)) return ip;
  const [head = '', tail] = ip.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  // An embedded IPv4 tail (64:ff9b::1.2.3.4) fills two groups.
  const width = (groups: string[]): number => groups.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
  const groups = [...left, ...Array<string>(Math.max(0, 8 - width(left) - width(right))).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}
