/**
 * Whether a box's CSR may go to the ACME CA: it parses, its self-signature holds (the box owns the key),
 * its key is one a public CA issues for (RSA of at least 2048 bits, EC P-256 or P-384) and it names
 * exactly the box's own name, in its CN and/or its DNS SANs, and nothing else (no other subject
 * attribute, no IP, e-mail or URI names). Anything else is E_BAD_CSR, before the CA is asked.
 */
import 'reflect-metadata';
import { createPublicKey } from 'node:crypto';
import { Pkcs10CertificateRequest, SubjectAlternativeNameExtension } from '@peculiar/x509';
import { ProtocolError } from '../../../shared/src/protocol/index.js';

const MIN_RSA_BITS = 2048;
/** Larger RSA keys cost the CA and every viewer's handshake far more for nothing; none is refused by a CA under this. */
const MAX_RSA_BITS = 8192;
const EC_CURVES: ReadonlySet<string> = new Set(['prime256v1', 'secp384r1']);

const bad = (why: string): ProtocolError => new ProtocolError('E_BAD_CSR', why);

export async function checkCsr(pem: string, boxName: string): Promise<void> {
  let csr: Pkcs10CertificateRequest;
  try {
    csr = new Pkcs10CertificateRequest(pem);
  } catch {
    throw bad('CSR is not a PEM PKCS#10 certificate request');
  }
  checkNames(csr, boxName);
  checkKey(csr);
  let signed = false;
  try {
    signed = await csr.verify();
  } catch {
    signed = false;
  }
  if (!signed) throw bad('the CSR\'s signature does not verify with its own key');
}

function checkNames(csr: Pkcs10CertificateRequest, boxName: string): void {
  const named = new Set<string>();
  for (const rdn of csr.subjectName.toJSON()) {
    for (const [attribute, values] of Object.entries(rdn)) {
      if (attribute !== 'CN') throw bad(`the CSR's subject may hold only CN=${boxName}, not ${attribute}`);
      for (const value of values) named.add(value.toLowerCase());
    }
  }
  const san = csr.extensions.find((e): e is SubjectAlternativeNameExtension => e instanceof SubjectAlternativeNameExtension);
  for (const { type, value } of san?.names.items ?? []) {
    if (type !== 'dns') throw bad(`the CSR may name only ${boxName}, not the ${type} name ${value}`);
    named.add(value.toLowerCase());
  }
  if (named.size === 0) throw bad(`the CSR names nothing; it must name ${boxName}`);
  const others = [...named].filter((name) => name !== boxName);
  if (others.length > 0) throw bad(`the CSR may name only ${boxName}, not ${others.slice(0, 3).join(', ')}`);
}

function checkKey(csr: Pkcs10CertificateRequest): void {
  let key;
  try {
    key = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
  } catch {
    throw bad('the CSR\'s public key does not parse');
  }
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS) throw bad(`an RSA key must have ${MIN_RSA_BITS}-${MAX_RSA_BITS} bits, not ${bits}`);
    return;
  }
  if (key.asymmetricKeyType === 'ec' && EC_CURVES.has(details.namedCurve ?? '')) return;
  throw bad(`the CSR's key must be RSA (≥ ${MIN_RSA_BITS} bits) or EC P-256/P-384, not ${key.asymmetricKeyType ?? 'unknown'} ${details.namedCurve ?? ''}`.trim());
}
