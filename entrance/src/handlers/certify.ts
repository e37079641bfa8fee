/**
 * CERTIFY from a box: a certificate for its own name `<box-id>.<BOX_DOMAIN>`, from the ACME CA through
 * DNS-01 (acme/issuer.ts). Only a socket that proved the box's enrolled key is served, only for a CSR naming
 * exactly that name (acme/csr-check.ts), and only CERTIFY_PER_HOUR a box (acme/certify-rate.ts). A refusal is
 * an ERROR reply on an open socket (the box tries again later), except a socket speaking for another box,
 * which is closed as in EXCHANGE.
 */
import { Close, ProtocolError, errorReply, isProtocolError, messageOf } from '../../../shared/src/protocol/index.js';
import type { CertifyReply, CertifyRequest, ErrorReply } from '../../../shared/src/protocol/index.js';
import { boxNameOf } from '../../../shared/src/box-name.js';
import type { HandlerContext } from '../context.js';
import { checkCsr } from '../acme/csr-check.js';
import type { Peer } from './exchange.js';

/** Longest CA error text passed on to the box. */
const ACME_ERROR_CHARS = 300;

export async function handleCertify(msg: CertifyRequest, peer: Peer, ctx: HandlerContext): Promise<CertifyReply | ErrorReply> {
  if (peer.authenticatedId !== undefined && peer.authenticatedId !== msg.ID) {
    throw new ProtocolError('E_AUTH', `this socket is authenticated as ${peer.authenticatedId}, not ${msg.ID}`, Close.AUTH);
  }
  const refuse = (err: ProtocolError): ErrorReply => {
    ctx.metrics.refused(err.code);
    return errorReply(ctx.ownInfo(), err, 'CERTIFY');
  };
  const certificates = ctx.certificates;
  if (certificates === undefined) return refuse(new ProtocolError('E_NO_DOMAIN', 'this entrance has no BOX_DOMAIN: it names and certifies no box'));
  if (peer.authenticatedId === undefined || (await ctx.enrolment.stateOf(msg.ID)) !== 'enrolled') {
    return refuse(new ProtocolError('E_AUTH', 'CERTIFY is answered only on a socket that proved this box\'s enrolled key (docs/enrolment.md)'));
  }
  const boxName = boxNameOf(msg.ID, certificates.domain);
  if (boxName === undefined) return refuse(new ProtocolError('E_NO_DOMAIN', `${msg.ID} is not a lowercase DNS label (a-z, 0-9, inner -, at most 63), so it has no name under ${certificates.domain}`));
  try {
    await checkCsr(msg.CSR, boxName);
  } catch (err) {
    if (isProtocolError(err)) return refuse(err);
    throw err;
  }
  const slot = await certificates.rate.take(msg.ID);
  if (typeof slot === 'string') return refuse(new ProtocolError('E_RATE', slot));
  try {
    const issued = await certificates.issuer.issue(msg.CSR);
    return { ...ctx.ownInfo(), TYPE: 'ENTRANCE', COMMAND: 'CERTIFY', MESSAGE: 'ACCEPTED', CERTIFICATE: issued.chain, NOT_AFTER: issued.notAfter };
  } catch (err) {
    return refuse(new ProtocolError('E_ACME', `the ACME CA did not issue a certificate for ${boxName}: ${messageOf(err).slice(0, ACME_ERROR_CHARS)}`));
  } finally {
    slot.release();
  }
}
