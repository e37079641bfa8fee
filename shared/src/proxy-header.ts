/**
 * The PROXY protocol header (HAProxy's spec, versions 1 and 2) that a TCP load balancer writes at the
 * start of each connection it opens to us, naming the client it accepted: a pure parser over the bytes
 * received so far. It answers "need more bytes", "here is the header and how long it was", or "this is
 * no PROXY header" — never throws, and never looks past MAX_PROXY_HEADER_BYTES, so a caller that buffers
 * until an answer buffers at most that much.
 *
 *   v1 (text, nginx's `proxy_protocol on`): `PROXY TCP4|TCP6 <src> <dst> <srcport> <dstport>\r\n` or
 *      `PROXY UNKNOWN…\r\n`, at most 107 bytes.
 *   v2 (binary, HAProxy's `send-proxy-v2`, cloud balancers): a 12-byte signature, version/command,
 *      family/transport, a 16-bit length, then the addresses and optional TLVs (ignored).
 *
 * `client` is the source address the balancer reports, normalised; undefined when the header carries
 * none (v1 UNKNOWN, v2 LOCAL such as a balancer's own health check, v2 UNSPEC or UNIX families), and
 * then the connection is the balancer's own and its socket address is the peer.
 */
import net from 'node:net';
import { normaliseIp } from './peer-address.js';

export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** The spec's bound for a v1 line, CRLF included. */
export const MAX_V1_BYTES = 107;
const V2_FIXED_BYTES = 16;
/**
 * The longest v2 header accepted: addresses (36 bytes for IPv6, 216 for UNIX) and a few TLVs. The spec
 * allows 64 KiB of TLVs, which no balancer we front needs and which we would only hold to discard.
 */
export const MAX_V2_BYTES = 1024;
export const MAX_PROXY_HEADER_BYTES = Math.max(MAX_V1_BYTES, MAX_V2_BYTES);

export type ProxyHeaderResult =
  | { kind: 'incomplete' }
  | { kind: 'invalid'; reason: string }
  | { kind: 'header'; version: 1 | 2; length: number; client: string | undefined };

const INCOMPLETE: ProxyHeaderResult = { kind: 'incomplete' };

function invalid(reason: string): ProxyHeaderResult {
  return { kind: 'invalid', reason };
}

/** Whether `buf` is, as far as it goes, a prefix of `expected` (or starts with all of it). */
function startsLike(buf: Buffer, expected: Buffer): boolean {
  const n = Math.min(buf.length, expected.length);
  return buf.subarray(0, n).equals(expected.subarray(0, n));
}

/** Read the PROXY header at the start of `buf` (the bytes received so far on a connection). */
export function parseProxyHeader(buf: Buffer): ProxyHeaderResult {
  if (buf.length === 0) return INCOMPLETE;
  if (startsLike(buf, V1_PREFIX)) return parseV1(buf);
  if (startsLike(buf, V2_SIGNATURE)) return parseV2(buf);
  return invalid('the connection does not start with a PROXY protocol header');
}

const PORT = /^(0|[1-9]\d{0,4})$/;

function parseV1(buf: Buffer): ProxyHeaderResult {
  const end = buf.subarray(0, MAX_V1_BYTES).indexOf('\r\n', 0, 'latin1');
  if (end < 0) return buf.length >= MAX_V1_BYTES ? invalid(`a PROXY v1 line longer than ${MAX_V1_BYTES} bytes`) : INCOMPLETE;
  const line = buf.subarray(0, end).toString('latin1');
  const length = end + 2;
  const [, protocol, ...rest] = line.split(' ');
  // UNKNOWN: the balancer could not (or would not) name the client; whatever follows is to be ignored.
  if (protocol === 'UNKNOWN') return { kind: 'header', version: 1, length, client: undefined };
  if (protocol !== 'TCP4' && protocol !== 'TCP6') return invalid('a PROXY v1 line whose protocol is not TCP4, TCP6 or UNKNOWN');
  if (rest.length !== 4) return invalid('a PROXY v1 line without exactly source, destination and both ports');
  const [source = '', destination = '', sourcePort = '', destinationPort = ''] = rest;
  const family = protocol === 'TCP4' ? 4 : 6;
  // The spec writes addresses in their plain form; a zone, brackets or a mapped form are not it.
  if (net.isIP(source) !== family || net.isIP(destination) !== family) return invalid(`a PROXY v1 line whose addresses are not ${protocol === 'TCP4' ? 'IPv4' : 'IPv6'}`);
  for (const port of [sourcePort, destinationPort]) {
    if (!PORT.test(port) || Number(port) > 65_535) return invalid('a PROXY v1 line whose port is not 0-65535');
  }
  return { kind: 'header', version: 1, length, client: canonicalIp(source, family) };
}

const COMMAND_LOCAL = 0x0;
const COMMAND_PROXY = 0x1;
const FAMILY_INET = 0x1;
const FAMILY_INET6 = 0x2;
const TRANSPORT_STREAM = 0x1;

function parseV2(buf: Buffer): ProxyHeaderResult {
  if (buf.length < V2_FIXED_BYTES) return INCOMPLETE;
  const versionCommand = buf.readUInt8(12);
  if (versionCommand >> 4 !== 2) return invalid('a PROXY v2 header whose version is not 2');
  const command = versionCommand & 0x0f;
  if (command !== COMMAND_LOCAL && command !== COMMAND_PROXY) return invalid('a PROXY v2 header whose command is neither LOCAL nor PROXY');
  const familyTransport = buf.readUInt8(13);
  const addressBytes = buf.readUInt16BE(14);
  const length = V2_FIXED_BYTES + addressBytes;
  if (length > MAX_V2_BYTES) return invalid(`a PROXY v2 header of ${length} bytes, over the ${MAX_V2_BYTES} accepted`);
  if (buf.length < length) return INCOMPLETE;
  // LOCAL: the balancer speaking for itself (a health check); the addresses, if any, are to be ignored.
  if (command === COMMAND_LOCAL) return { kind: 'header', version: 2, length, client: undefined };
  const family = familyTransport >> 4;
  const transport = familyTransport & 0x0f;
  // UNSPEC or UNIX: nothing we can place; the spec says to use the connection's own address.
  if (family !== FAMILY_INET && family !== FAMILY_INET6) return { kind: 'header', version: 2, length, client: undefined };
  if (transport !== TRANSPORT_STREAM) return invalid('a PROXY v2 header for a transport other than TCP');
  const body = buf.subarray(V2_FIXED_BYTES, length);
  if (family === FAMILY_INET) {
    if (body.length < 12) return invalid('a PROXY v2 header too short for its IPv4 addresses');
    return { kind: 'header', version: 2, length, client: Array.from(body.subarray(0, 4)).join('.') };
  }
  if (body.length < 36) return invalid('a PROXY v2 header too short for its IPv6 addresses');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(body.readUInt16BE(i).toString(16));
  return { kind: 'header', version: 2, length, client: canonicalIp(groups.join(':'), 6) };
}

/**
 * The address as the socket API writes a peer's (IPv6 compressed and lower case, IPv4-mapped as plain
 * IPv4), so a client named by a header is the same string as the same client connecting directly.
 */
function canonicalIp(ip: string, family: 4 | 6): string {
  return normaliseIp(new net.SocketAddress({ address: ip, family: family === 4 ? 'ipv4' : 'ipv6' }).address);
}
