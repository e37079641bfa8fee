/**
 * Which ports of a box the entrance probes, and how: only ever at the address the box's socket comes from
 * (never a host the box names, so a box cannot aim the entrance at a third party), on the ports of the URLs
 * it announces: HTTP_URL (viewers; its status page must name the box), CONNECT_WS (publishers; the agent
 * answers a plain GET with its identity) and, when the box serves HTTPS, HTTPS_URL (a TLS handshake whose
 * SNI is the URL's host, the box's name).
 */
import net from 'node:net';
import { hostPort } from '../../../shared/src/bind-address.js';
import type { BoxExchange } from '../../../shared/src/protocol/index.js';
import type { PortRole } from './verdict.js';

export type ProbeTarget =
  /** GET `url`; answered as the box when a JSON body names its ID (`strict`), or, not strict, by any HTTP answer that names no other box. */
  | { role: PortRole; port: number; kind: 'http'; url: string; strict: boolean }
  /** A TLS handshake at `host`:`port` with SNI `servername` (undefined: the URL's host is an address, which SNI cannot carry). */
  | { role: PortRole; port: number; kind: 'tls'; host: string; servername: string | undefined };

/** The probes for this box at `remoteIp`, in a fixed order (viewer, publisher, https); empty without a usable URL. */
export function probeTargets(remoteIp: string, msg: BoxExchange): ProbeTarget[] {
  if (remoteIp === '') return [];
  const targets: ProbeTarget[] = [];
  const viewer = parsedUrl(msg.HTTP_URL, ['http:']);
  if (viewer !== undefined) {
    const port = portOf(viewer);
    targets.push({ role: 'viewer', port, kind: 'http', url: `http://${hostPort(remoteIp, port)}/status/status.json`, strict: true });
  }
  const publisher = parsedUrl(msg.CONNECT_WS, ['ws:', 'wss:']);
  if (publisher !== undefined) {
    const port = portOf(publisher);
    // The original's boxes answer a plain GET on their socket with an upgrade refusal, not their identity:
    // any HTTP answer counts there, as long as it does not name another box.
    if (publisher.protocol === 'ws:') targets.push({ role: 'publisher', port, kind: 'http', url: `http://${hostPort(remoteIp, port)}/dandelion/`, strict: false });
    else targets.push(tlsTarget('publisher', remoteIp, publisher));
  }
  const https = parsedUrl(msg.HTTPS_URL, ['https:']);
  if (https !== undefined) targets.push(tlsTarget('https', remoteIp, https));
  return targets;
}

function tlsTarget(role: PortRole, remoteIp: string, url: URL): ProbeTarget {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return { role, port: portOf(url), kind: 'tls', host: remoteIp, servername: net.isIP(host) === 0 && host !== '' ? host : undefined };
}

function parsedUrl(value: unknown, protocols: readonly string[]): URL | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    const url = new URL(value);
    return protocols.includes(url.protocol) ? url : undefined;
  } catch {
    return undefined;
  }
}

function portOf(url: URL): number {
  if (url.port !== '') return Number(url.port);
  return url.protocol === 'https:' || url.protocol === 'wss:' ? 443 : 80;
}
