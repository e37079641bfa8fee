/**
 * A peer's socket once upgraded: a box or publisher that proved its key is watched for revocation, and every
 * message is decoded, bounded and answered through handlers/dispatch.ts by the shared message loop.
 */
import type { WebSocket } from 'ws';
import type { ByteBudget } from '../../shared/src/byte-budget.js';
import type { Logger } from '../../shared/src/log.js';
import { attachMessageLoop } from '../../shared/src/ws-server.js';
import { LogThrottle } from '../../shared/src/log-throttle.js';
import type { HandlerContext } from './context.js';
import type { RevocationWatch } from './enrolment/revocation-watch.js';
import { dispatch } from './handlers/dispatch.js';

export interface PeerConnectionDeps {
  ctx: HandlerContext;
  revocations: Pick<RevocationWatch, 'track'>;
  /** Bytes of messages held across all sockets and per socket. */
  budget: ByteBudget;
  log: Logger;
}

/** One line per this long for handler failures (a Redis failover fails every socket's message at once). */
const FAILURE_LOG_INTERVAL_MS = 10_000;

/** Returns what to call with each upgraded socket, its peer's address and the box or publisher it authenticated as (if any). */
export function createPeerConnections(deps: PeerConnectionDeps): (ws: WebSocket, remoteIp: string, peerId: string | undefined) => void {
  const { ctx, log } = deps;
  const failures = new LogThrottle(FAILURE_LOG_INTERVAL_MS);
  return (ws, remoteIp, peerId) => {
    log.debug({ peer: remoteIp, as: peerId }, 'peer connected');
    if (peerId !== undefined) deps.revocations.track(ws, peerId);
    attachMessageLoop(
      ws,
      remoteIp,
      {
        own: () => ctx.ownInfo(),
        log,
        onMessage: (decoded, peer) => dispatch(decoded, peer, ctx),
        onRefused: (code) => ctx.metrics.refused(code),
        budget: deps.budget,
        failures,
      },
      peerId,
    );
  };
}
