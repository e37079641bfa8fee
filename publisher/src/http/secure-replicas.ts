/**
 * Which box copies a viewer's page may load. A page served over HTTPS may not fetch http:// segments
 * (browsers block mixed content), so a viewer who reached this server over TLS is given each box's
 * HTTPS_URL (from the SEARCH reply) and no box that has none: such a segment comes from the origin.
 * Plain-HTTP viewers keep the boxes' HTTP_URL. The publisher has no trusted proxies, so only its own
 * TLS (VIEWER_TLS_CERT_FILE) counts, never a client's X-Forwarded-Proto.
 */
import type { IncomingMessage } from 'node:http';
import { arrivedOverTls, trustedProxies } from '../../../shared/src/peer-address.js';
import { viewerUrl } from '../../../shared/src/viewer-url.js';
import type { Replica } from '../upload/file-index.js';

export interface SecureReplicaDeps {
  publisherId: string;
  /** The HTTPS_URL of a box the publisher knows (ending in '/'), if it announced one. */
  httpsBaseOf(boxId: string): string | undefined;
}

const NO_PROXIES = trustedProxies([]);

export function viewerIsSecure(req: IncomingMessage): boolean {
  return arrivedOverTls(req, NO_PROXIES);
}

/** `replicas` of `filePath` as a viewer on an HTTPS page (`secure`) can load them; unchanged for plain HTTP. */
export function replicasForViewer(replicas: Replica[], filePath: string, secure: boolean, deps: SecureReplicaDeps): Replica[] {
  if (!secure) return replicas;
  const out: Replica[] = [];
  for (const r of replicas) {
    const base = deps.httpsBaseOf(r.boxId);
    if (base !== undefined) out.push({ boxId: r.boxId, url: viewerUrl(base, deps.publisherId, filePath) });
  }
  return out;
}
