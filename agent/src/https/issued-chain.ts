/**
 * What the box checks of a certificate chain before it serves or stores it (from the entrance, or from
 * its own disk at start): PEM certificates, leaf first, each signed by the next; the leaf names exactly
 * one DNS name (the one asked for, when known), holds the box's own key, and is valid now. The box does
 * not check a trust root: which CA the entrance uses is the entrance's choice, and the link is authenticated.
 */
import { X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { messageOf } from '../../../shared/src/protocol/index.js';

/** Most certificates a chain may hold (a leaf and its intermediates). */
export const MAX_CHAIN_CERTIFICATES = 8;

export type RefusalReason = 'unreadable' | 'broken-chain' | 'wrong-name' | 'wrong-key' | 'expired';

export class CertificateRefused extends Error {
  override name = 'CertificateRefused';
  constructor(readonly reason: RefusalReason, detail: string) {
    super(`${reason}: ${detail}`);
  }
}

export interface IssuedCertificate {
  /** The one DNS name the leaf holds. */
  name: string;
  /** The chain as served, leaf first. */
  chainPem: string;
  notBeforeMs: number;
  notAfterMs: number;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----/g;

export function checkIssuedChain(pem: string, expect: { key: KeyObject; name?: string; nowMs: number }): IssuedCertificate {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new CertificateRefused('unreadable', 'no PEM certificate');
  if (blocks.length > MAX_CHAIN_CERTIFICATES) throw new CertificateRefused('unreadable', `more than ${MAX_CHAIN_CERTIFICATES} certificates`);
  const certs = blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (err) {
      throw new CertificateRefused('unreadable', `certificate ${i}: ${messageOf(err)}`);
    }
  });
  for (let i = 0; i + 1 < certs.length; i++) {
    const [cert, issuer] = [certs[i], certs[i + 1]];
    if (!cert || !issuer || !cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) throw new CertificateRefused('broken-chain', `certificate ${i} is not signed by certificate ${i + 1}`);
  }
  const leaf = certs[0];
  if (!leaf) throw new CertificateRefused('unreadable', 'no leaf');
  const name = onlyDnsName(leaf);
  if (expect.name !== undefined && name !== expect.name) throw new CertificateRefused('wrong-name', `the certificate names ${name}, not ${expect.name}`);
  if (!leaf.checkPrivateKey(expect.key)) throw new CertificateRefused('wrong-key', 'the certificate is for another key than the box\'s');
  const notBeforeMs = Date.parse(leaf.validFrom);
  const notAfterMs = Date.parse(leaf.validTo);
  if (!Number.isFinite(notBeforeMs) || !Number.isFinite(notAfterMs)) throw new CertificateRefused('unreadable', 'unreadable validity dates');
  if (notAfterMs <= expect.nowMs) throw new CertificateRefused('expired', `expired ${leaf.validTo}`);
  if (notBeforeMs > expect.nowMs + CLOCK_SLACK_MS) throw new CertificateRefused('expired', `not valid before ${leaf.validFrom}`);
  return { name, chainPem: `${blocks.join('\n')}\n`, notBeforeMs, notAfterMs };
}

/** A certificate valid from a little later than the box's clock is taken: clocks differ by seconds. */
const CLOCK_SLACK_MS = 5 * 60_000;

/** The leaf's only subjectAltName, a DNS name; a certificate naming more (or none) is not one the box asked for. */
function onlyDnsName(leaf: X509Certificate): string {
  const entries = (leaf.subjectAltName ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const [only] = entries;
  if (entries.length !== 1 || only === undefined || !only.startsWith('DNS:')) {
    throw new CertificateRefused('wrong-name', `the certificate must name exactly one DNS name, it names ${JSON.stringify(leaf.subjectAltName ?? '')}`);
  }
  return only.slice(4).toLowerCase();
}
