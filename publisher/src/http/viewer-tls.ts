/**
 * VIEWER_TLS_CERT_FILE and VIEWER_TLS_KEY_FILE: the certificate and key the publisher's web server serves
 * HTTPS with, read once at start. Both or neither; a file that cannot be read, or a key that does not
 * belong to the certificate, is a config problem naming the key (exit 2), not a server that fails later.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { PublisherConfig } from '../../../shared/src/config/schemas.js';
import { ConfigError } from '../../../shared/src/config/spec.js';
import type { TlsPair } from '../../../shared/src/http-guard.js';
import { messageOf } from '../../../shared/src/protocol/index.js';

export function loadViewerTls(config: Pick<PublisherConfig, 'VIEWER_TLS_CERT_FILE' | 'VIEWER_TLS_KEY_FILE'>): TlsPair | undefined {
  const certFile = config.VIEWER_TLS_CERT_FILE;
  const keyFile = config.VIEWER_TLS_KEY_FILE;
  if (certFile === '' && keyFile === '') return undefined;
  if (certFile === '') throw new ConfigError([{ key: 'VIEWER_TLS_CERT_FILE', reason: 'is empty but VIEWER_TLS_KEY_FILE is set: set both (HTTPS) or neither (HTTP)' }]);
  if (keyFile === '') throw new ConfigError([{ key: 'VIEWER_TLS_KEY_FILE', reason: 'is empty but VIEWER_TLS_CERT_FILE is set: set both (HTTPS) or neither (HTTP)' }]);
  const pair = { cert: readPem('VIEWER_TLS_CERT_FILE', certFile), key: readPem('VIEWER_TLS_KEY_FILE', keyFile) };
  try {
    createSecureContext(pair);
  } catch (err) {
    throw new ConfigError([{ key: 'VIEWER_TLS_KEY_FILE', reason: `${keyFile} and ${certFile} are not a usable key and certificate: ${messageOf(err)}` }]);
  }
  return pair;
}

function readPem(key: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ key, reason: `cannot read ${file}: ${messageOf(err)}` }]);
  }
}
