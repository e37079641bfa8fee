/**
 * Who may run a test now. Anyone who can reach the entrance can ask, so at most maxRunning anonymous
 * tests run at once and one client address runs maxRunningPerIp at a time. Boxes must be able to
 * measure even while strangers hold every slot: a box that proves its enrolled key, with the same
 * signed headers as at the WebSocket upgrade (EnrolmentGate.authenticateUpgrade, a single-use nonce
 * each time), gets one of boxSlots reserved slots, or an anonymous one when those are taken.
 * Credentials that fail are refused with the gate's status and ERROR_CODE, never taken for an
 * anonymous client.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { HttpError } from '../../../shared/src/http-app.js';
import type { Logger } from '../../../shared/src/log.js';
import { remoteIpOf } from '../../../shared/src/peer-address.js';
import { isIdOf } from '../../../shared/src/protocol/index.js';
import type { TrustedProxies } from '../../../shared/src/peer-address.js';
import type { UpgradeAuth } from '../enrolment/gate.js';
import type { SpeedTestLimits } from './limits.js';
import { Slots } from './slots.js';
import { watchTest } from './watch.js';
import type { Progress } from './watch.js';

/**
 * Every speed-test refusal closes its connection once answered: otherwise Node would read (and
 * discard) the rest of a refused upload to keep the connection, which is the very traffic refused.
 */
export const CLOSE = { connection: 'close' } as const;

export interface AdmissionDeps {
  limits: SpeedTestLimits;
  trustedProxies: TrustedProxies;
  log: Logger;
  /** Who is asking: a box ID for an enrolled box, none for an anonymous client, or a refusal. */
  authenticate?(req: IncomingMessage, remoteIp: string): Promise<UpgradeAuth>;
}

/**
 * Take a slot for this test, or throw the refusal: 429 (busy) or the gate's. Undefined when the
 * client went away while its credentials were checked. The slot is given back when the response
 * finishes or closes; until then watchTest may cut it.
 */
export function createAdmission(deps: AdmissionDeps): (request: FastifyRequest, reply: FastifyReply) => Promise<Progress | undefined> {
  const { limits, log } = deps;
  const anonymous = new Slots(limits.maxRunning, limits.maxRunningPerIp);
  const boxes = new Slots(limits.boxSlots, limits.maxRunningPerIp);

  return async (request, reply) => {
    const req = request.raw;
    const ip = remoteIpOf(req, deps.trustedProxies);
    const auth: UpgradeAuth = deps.authenticate ? await deps.authenticate(req, ip) : { ok: true };
    if (!auth.ok) {
      log.info({ ip, box: req.headers['x-dandelion-box'], code: auth.code, reason: auth.message }, 'speed test refused: credentials');
      throw new HttpError(auth.status, auth.code, auth.message, CLOSE);
    }
    if (req.socket.destroyed) return undefined; // gone while its credentials were checked: 'close' has passed
    // Reserved slots are for boxes measuring their link; a publisher that proved its key is a stranger here.
    const box = auth.peerId !== undefined && isIdOf(auth.peerId, 'BOX') ? auth.peerId : undefined;
    // A box takes a reserved slot first, then an anonymous one: boxes never wait for strangers.
    const slots = box !== undefined && boxes.busy(ip) === undefined ? boxes : anonymous;
    const why = slots.busy(ip);
    if (why !== undefined) {
      log.debug({ ip, box }, 'speed test refused: busy');
      throw new HttpError(429, 'E_BUSY', `${why}; retry later`, { ...CLOSE, 'retry-after': String(limits.retryAfterSeconds) });
    }
    return watchTest(reply.raw, limits, log, { ip, box }, slots.take(ip));
  };
}
