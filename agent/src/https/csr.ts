/**
 * A PKCS#10 request (RFC 2986) for exactly one DNS name, as the subject's CN and the only
 * subjectAltName, signed by the box's TLS key (ECDSA P-256 with SHA-256). Written as DER by hand with
 * node:crypto rather than with @peculiar/x509, whose loading costs about 18 MiB of RSS (measured on
 * Node 20) for these few fixed fields on a small Pi.
 */
import { createPublicKey, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { isBoxName } from './box-name.js';

const OID = {
  commonName: '2.5.4.3',
  extensionRequest: '1.2.840.113549.1.9.14',
  subjectAltName: '2.5.29.17',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
};

export async function certificateRequest(key: KeyObject, name: string): Promise<string> {
  // Checked here too: the name comes from the network and goes into the request as it is.
  if (!isBoxName(name)) throw new Error(`${JSON.stringify(name.slice(0, 80))} is not a DNS name a certificate can be asked for`);
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  const subject = seq(set(seq(oid(OID.commonName), tlv(0x0c, Buffer.from(name, 'utf8')))));
  const altNames = seq(tlv(0x82, Buffer.from(name, 'ascii'))); // GeneralNames: one dNSName ([2] IMPLICIT IA5String)
  const extensions = seq(seq(oid(OID.subjectAltName), tlv(0x04, altNames)));
  const attributes = tlv(0xa0, seq(oid(OID.extensionRequest), set(extensions))); // [0] IMPLICIT SET OF Attribute
  const info = seq(tlv(0x02, Buffer.from([0])), subject, spki, attributes);
  const signature = sign('sha256', info, key); // DER ECDSA-Sig-Value, as the BIT STRING holds it
  const der = seq(info, seq(oid(OID.ecdsaWithSha256)), tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE REQUEST-----\n${lines.join('\n')}\n-----END CERTIFICATE REQUEST-----\n`;
}

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  const length = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, content]);
}

const seq = (...parts: Buffer[]): Buffer => tlv(0x30, Buffer.concat(parts));
const set = (...parts: Buffer[]): Buffer => tlv(0x31, Buffer.concat(parts));

function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split('.').map(Number);
  const bytes = [40 * a + b];
  for (const arc of rest) {
    const groups = [arc & 0x7f];
    for (let v = arc >> 7; v > 0; v >>= 7) groups.unshift((v & 0x7f) | 0x80);
    bytes.push(...groups);
  }
  return tlv(0x06, Buffer.from(bytes));
}
