/**
 * Which CAs acme-client trusts for an ACME server's own HTTPS. acme-client sends every request through
 * one axios instance shared by the whole process, with no per-client TLS option, so the extra CA of
 * ACME_CA_FILE is attached per request by the ACME server's origin: two entrances in one process (tests)
 * talking to two ACME servers each keep their own trust, and requests elsewhere keep the system's roots.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';
import acme from 'acme-client';
import { messageOf } from '../../../shared/src/protocol/index.js';

const agents = new Map<string, https.Agent>();
let installed = false;

/** Trust the PEM certificates in `caFile` (besides the system's roots) for requests to `directoryUrl`'s origin. */
export function trustForAcmeServer(directoryUrl: string, caFile: string): void {
  let ca: string;
  try {
    ca = readFileSync(caFile, 'utf8');
  } catch (err) {
    throw new Error(`ACME_CA_FILE ${caFile}: ${messageOf(err)}`);
  }
  if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`ACME_CA_FILE ${caFile} holds no PEM certificate`);
  agents.set(new URL(directoryUrl).origin, new https.Agent({ ca: [...tls.rootCertificates, ca], keepAlive: true }));
  if (installed) return;
  installed = true;
  acme.axios.interceptors.request.use((config) => {
    const agent = config.url === undefined ? undefined : agents.get(originOf(config.url));
    if (agent !== undefined) config.httpsAgent = agent;
    return config;
  });
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '';
  }
}
