/** A PKCS#10 request for exactly one DNS name (subject CN and the only subjectAltName), signed by the box's TLS key. */
import { createPublicKey, webcrypto } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { isBoxName } from './box-name.js';

const P256 = { name: 'ECDSA', namedCurve: 'P-256' };

export async function certificateRequest(key: KeyObject, name: string): Promise<string> {
  // Checked here too: the name is written into a distinguished-name string below.
  if (!isBoxName(name)) throw new Error(`${JSON.stringify(name.slice(0, 80))} is not a DNS name a certificate can be asked for`);
  const { Pkcs10CertificateRequestGenerator, SubjectAlternativeNameExtension } = await x509();
  const { subtle } = webcrypto;
  const keys = {
    privateKey: await subtle.importKey('pkcs8', key.export({ format: 'der', type: 'pkcs8' }), P256, false, ['sign']),
    publicKey: await subtle.importKey('spki', createPublicKey(key).export({ format: 'der', type: 'spki' }), P256, true, ['verify']),
  };
  const csr = await Pkcs10CertificateRequestGenerator.create(
    { name: `CN=${name}`, keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' }, extensions: [new SubjectAlternativeNameExtension([{ type: 'dns', value: name }])] },
  );
  return csr.toString('pem');
}

/**
 * @peculiar/x509, loaded at the first CSR only (a box with HTTPS off never pays its memory). It resolves its
 * parts through tsyringe, which needs the Reflect metadata API loaded first.
 */
async function x509(): Promise<typeof import('@peculiar/x509')> {
  await import('reflect-metadata');
  return import('@peculiar/x509');
}
