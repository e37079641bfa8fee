/**
 * EXCHANGE from a box: store it, refresh its expiry, count its traffic aggregates, and tell it the
 * entrances, its public address and whether it can be reached there (reachability/: verdict and advice,
 * also stored fleet-wide for SEARCH and the dashboards), and offer it the fleet rollout's UPDATE (updates/rollouts.ts).
 */
import { Close, ProtocolError, readingOf } from '../../../shared/src/protocol/index.js';
import type { BoxExchange, ExchangeReply } from '../../../shared/src/protocol/index.js';
import type { PeerContext } from '../../../shared/src/ws-server.js';
import type { HandlerContext } from '../context.js';
import { assessReachability } from '../reachability/assess.js';
import { boxNameOf } from '../../../shared/src/box-name.js';

/** What the handler knows of the socket: the address it comes from and the box it proved to be, if any. */
export type Peer = Pick<PeerContext, 'remoteIp' | 'authenticatedId'>;

export async function handleExchange(msg: BoxExchange, peer: Peer, ctx: HandlerContext): Promise<ExchangeReply> {
  const { TRAFFIC_AGGREGATES: aggregates = [], ...exchange } = msg;
  // The decoder already refused aggregates the counters cannot take (decodeTrafficAggregate), so a
  // refused EXCHANGE stores nothing.
  await checkEnrolment(msg.ID, peer, ctx);
  const boxName = boxNameOf(msg.ID, ctx.config.BOX_DOMAIN);
  checkHttpsUrl(msg, boxName, peer);
  await checkAnnouncedUrls(msg, peer, ctx);
  const reachability = assessReachability(ctx.reachability, msg, peer.remoteIp);
  // Aggregates are events, like traffic records: they are counted, not kept in the box's stored exchange
  // (which SEARCH replies hand to publishers).
  // Independent writes: sent together, so a heartbeat costs one round trip for all of them.
  await Promise.all([
    ctx.registry.upsert(exchange, peer.remoteIp || undefined),
    ctx.summaries.record(exchange, peer.remoteIp || undefined),
    ctx.verdicts.write(msg.ID, reachability.verdict, reachability.advice, reachability.probes),
  ]);
  // Before ACCEPTED: the box drops its pending aggregates once accepted. If this throws, the box gets
  // E_INTERNAL and sends them again; the fold counts each aggregate once however often it arrives, and
  // no more of it than the upload this EXCHANGE reports (the one just stored in its summary) could carry.
  ctx.metrics.folded(await ctx.traffic.fold(msg.ID, aggregates, readingOf(msg, 'BANDWIDTH-UP')));
  ctx.metrics.heartbeat();
  const reply: ExchangeReply = {
    ...ctx.ownInfo(),
    TYPE: 'ENTRANCE',
    COMMAND: 'EXCHANGE',
    MESSAGE: 'ACCEPTED',
    ENTRANCE_URLS: ctx.entranceUrls(),
  };
  if (peer.remoteIp) reply.PUBLIC_IP = peer.remoteIp;
  if (boxName !== undefined) reply.BOX_NAME = boxName;
  const { verdict } = reachability;
  // REACHABLE stays absent until a probe finished, as older agents expect.
  if (verdict.state !== 'checking') reply.REACHABLE = verdict.state === 'reachable';
  reply.REACHABILITY = verdict.state;
  if (verdict.state === 'reachable') reply.REACHABILITY_METHOD = verdict.method;
  reply.REACHABILITY_ADVICE = reachability.advice;
  // What the box checks PUBLISH grants with, offline; their absence tells it to take any PUBLISH.
  const trust = await ctx.trust.boxFields();
  if (trust !== undefined) {
    reply.FLEET_KEYS = trust.FLEET_KEYS;
    reply.REVOKED_PUBLISHERS = trust.REVOKED_PUBLISHERS;
  }
  // Only to a box that names its AGENT_VERSION: an original box never gets an UPDATE.
  const update = await ctx.rollouts.offerFor(msg, verdict.state);
  if (update !== undefined) reply.UPDATE = update;
  return reply;
}

/**
 * CONNECT_WS and HTTP_URL are what publishers and viewers are sent to: each must name the box itself (the
 * address its socket comes from, or a name resolving there), or the EXCHANGE is refused and nothing of it
 * stored. The refusal tells the box that address, so a box that did not know its public address yet (it
 * starts with its bind address) uses it from its next EXCHANGE on.
 */
async function checkAnnouncedUrls(msg: BoxExchange, peer: Peer, ctx: HandlerContext): Promise<void> {
  const announced: Array<[key: string, url: unknown]> = [['CONNECT_WS', msg.CONNECT_WS], ['HTTP_URL', msg.HTTP_URL]];
  for (const [key, url] of announced) {
    if (typeof url !== 'string') continue;
    const why = await ctx.vouchedAddresses.refusal(url, peer.remoteIp);
    if (why !== undefined) {
      const replyFields = peer.remoteIp ? { PUBLIC_IP: peer.remoteIp } : {};
      throw new ProtocolError('E_ADDRESS', `${key}: ${why}; announce the address the entrance sees (PUBLIC_IP) or a name resolving to it`, Close.PROTOCOL, replyFields);
    }
  }
}

/**
 * HTTPS_URL is served with the certificate CERTIFY gave for the box's name, so its host must be exactly
 * that name (which the entrance's DNS points at the box's address): a box cannot send viewers to any other
 * host over HTTPS, and without BOX_DOMAIN it has no name and announces no HTTPS_URL.
 */
function checkHttpsUrl(msg: BoxExchange, boxName: string | undefined, peer: Peer): void {
  if (typeof msg.HTTPS_URL !== 'string') return;
  let host = '';
  try {
    host = new URL(msg.HTTPS_URL).hostname;
  } catch {
    // The decoder took it as an https URL; an unparsable one is refused below like any foreign host.
  }
  if (boxName !== undefined && host === boxName) return;
  const replyFields = peer.remoteIp ? { PUBLIC_IP: peer.remoteIp } : {};
  const expected = boxName === undefined ? 'this box has no name here (no BOX_DOMAIN, or its ID is not a lowercase DNS label), so it announces no HTTPS_URL' : `its host must be ${boxName}`;
  throw new ProtocolError('E_ADDRESS', `HTTPS_URL: ${expected}`, Close.PROTOCOL, replyFields);
}

/**
 * Who may heartbeat as `boxId`: with REQUIRE_ENROLMENT only a socket that proved that box's enrolled key,
 * and then only while the enrolment stands (a revocation takes effect here, on the next heartbeat);
 * without it also anonymous sockets, except for IDs that are enrolled, which nobody else may speak for.
 */
async function checkEnrolment(boxId: string, peer: Peer, ctx: HandlerContext): Promise<void> {
  const authed = peer.authenticatedId;
  if (authed !== undefined && authed !== boxId) {
    throw new ProtocolError('E_AUTH', `this socket is authenticated as ${authed}, not ${boxId}`, Close.AUTH);
  }
  if (authed === undefined && ctx.config.REQUIRE_ENROLMENT) {
    throw new ProtocolError('E_AUTH', 'this entrance requires enrolment: enrol with a fleet token and connect with a signed challenge (docs/enrolment.md)', Close.AUTH);
  }
  const enrolment = await ctx.enrolment.stateOf(boxId);
  if (enrolment === 'revoked') {
    await ctx.registry.remove(boxId);
    throw new ProtocolError('E_REVOKED', 'this box was revoked by an operator', Close.REVOKED);
  }
  if (authed === undefined && enrolment === 'enrolled') {
    throw new ProtocolError('E_AUTH', `${boxId} is enrolled: connect with its key`, Close.AUTH);
  }
  if (authed !== undefined && enrolment === undefined) {
    // Forgotten by an operator since this socket opened.
    throw new ProtocolError('E_AUTH', 'this box is no longer enrolled: enrol again with a fleet token', Close.AUTH);
  }
}
