/**
 * SEARCH from a publisher: the best live boxes, ranked (see registry/ranking.ts), each trimmed to what a
 * publisher needs to reach it (search-listing.ts). With REQUIRE_PUBLISHER_AUTH only a socket that proved the
 * key of the publisher the message names is answered (its ID then comes from the upgrade, peer.authenticatedId);
 * a refused SEARCH learns no box and records nothing, ORIGIN_BYTES included. Each publisher is rate-limited
 * (search-rate.ts): past its rate it gets E_RATE and the socket stays open.
 */
import { Close, ProtocolError, errorReply } from '../../../shared/src/protocol/index.js';
import type { ErrorReply, RankedBox, SearchReply, SearchRequest } from '../../../shared/src/protocol/index.js';
import type { HandlerContext } from '../context.js';
import type { Peer } from './exchange.js';
import { listedBox } from './search-listing.js';

export async function handleSearch(msg: SearchRequest, peer: Peer, ctx: HandlerContext): Promise<SearchReply | ErrorReply> {
  await checkPublisher(msg.ID, peer, ctx);
  if (!ctx.searchRate.take(msg.ID)) {
    ctx.metrics.refused('E_RATE');
    return errorReply(ctx.ownInfo(), new ProtocolError('E_RATE', 'too many SEARCHes from this publisher; slow down'), 'SEARCH');
  }
  const answered = ctx.metrics.searchTimer();
  let boxes: RankedBox[];
  try {
    await ctx.publisherRecords.record(msg);
    // Before the search, so a box the publisher just caught is already left out of its own reply. With
    // REQUIRE_PUBLISHER_AUTH only a publisher that proved its key gets here; with it off (development only)
    // anyone may quarantine 20 boxes a day per made-up ID, as anyone may then store files on boxes.
    if (msg.QUARANTINE) await ctx.quarantine.record(msg.ID, msg.QUARANTINE);
    boxes = await ctx.registry.search(msg.GEOIP, ctx.config.AMOUNT_OF_BOXES_PER_REQUEST);
  } finally {
    answered();
  }
  const boxSet: Record<string, RankedBox> = {};
  for (const box of boxes) boxSet[box.ID] = listedBox(box);
  const reply: SearchReply = {
    ...ctx.ownInfo(),
    TYPE: 'ENTRANCE',
    COMMAND: 'SEARCH',
    BOX_SET: boxSet,
    ENTRANCE_URLS: ctx.entranceUrls(),
  };
  // What lets the publisher store files on the boxes listed: they check it without asking back here.
  const grant = await ctx.trust.grantFor(msg.ID);
  if (grant !== undefined) reply.GRANT = grant;
  return reply;
}

/**
 * Who may SEARCH as `publisherId`: a socket authenticated as another peer never; with REQUIRE_PUBLISHER_AUTH
 * only a socket that proved this publisher's key, while its account stands (a revocation takes effect here
 * even if the entrance missed its broadcast); without it also anonymous sockets, except for publishers that
 * enrolled a key, which nobody else may speak for.
 */
async function checkPublisher(publisherId: string, peer: Peer, ctx: HandlerContext): Promise<void> {
  const authed = peer.authenticatedId;
  if (authed !== undefined && authed !== publisherId) {
    throw new ProtocolError('E_AUTH', `this socket is authenticated as ${authed}, not ${publisherId}`, Close.AUTH);
  }
  if (authed === undefined && ctx.config.REQUIRE_PUBLISHER_AUTH) {
    throw new ProtocolError('E_AUTH', 'this entrance answers SEARCH only from publishers with an account: enrol with the publisher token and connect with a signed challenge (docs/enrolment.md)', Close.AUTH);
  }
  const state = await ctx.publisherAccounts.stateOf(publisherId);
  if (state === 'revoked') throw new ProtocolError('E_REVOKED', 'this publisher was revoked by an operator', Close.REVOKED);
  if (authed === undefined && state === 'enrolled') throw new ProtocolError('E_AUTH', `${publisherId} has an account: connect with its key`, Close.AUTH);
}
