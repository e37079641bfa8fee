/**
 * The enrolment endpoints below the WebSocket path (docs/enrolment.md): GET <ws path>/challenge and
 * POST <ws path>/enrol. Their logic is gate.ts's; this file says what a request must look like.
 */
import type { FastifyInstance } from 'fastify';
import { CHALLENGE_PATH, ENROL_PATH } from '../../../shared/src/enrolment/codec.js';
import { remoteIpOf } from '../../../shared/src/peer-address.js';
import type { TrustedProxies } from '../../../shared/src/peer-address.js';
import { takeJsonObjectBodies } from '../http/json-body.js';
import { refuseOtherMethods } from '../http/refusals.js';
import type { EnrolRequest, EnrolmentGate } from './gate.js';

/** An enrolment request is a few hundred bytes; more is refused unread (413). */
const MAX_ENROL_BODY = 8 * 1024;

const nonEmpty = { type: 'string', minLength: 1 } as const;
const ENROL_BODY = {
  type: 'object',
  required: ['ID', 'PUBLIC_KEY', 'TOKEN', 'NONCE', 'SIGNATURE'],
  properties: { ID: nonEmpty, PUBLIC_KEY: nonEmpty, TOKEN: nonEmpty, NONCE: nonEmpty, SIGNATURE: nonEmpty, ROTATION_SIGNATURE: nonEmpty },
} as const;

/**
 * `fleetKeys` gives the fleet public keys an enrolled box pins (undefined: the entrance has boxes take any
 * PUBLISH), so a box checks grants from its first PUBLISH on, before its first EXCHANGE.
 */
export function enrolmentRoutes(gate: EnrolmentGate, wsPath: string, trustedProxies: TrustedProxies, fleetKeys: () => Promise<Record<string, string> | undefined>) {
  return async (app: FastifyInstance): Promise<void> => {
    takeJsonObjectBodies(app, { emptyBody: 'refused' });
    const challengePath = `${wsPath}/${CHALLENGE_PATH}`;
    const enrolPath = `${wsPath}/${ENROL_PATH}`;
    // The Date header doubles as a time source for a box whose clock still says 1970.
    app.get(challengePath, { exposeHeadRoute: false }, async (_request, reply) => reply.header('cache-control', 'no-store').send(gate.challenge()));
    refuseOtherMethods(app, challengePath, ['GET']);
    app.post<{ Body: EnrolRequest }>(enrolPath, { bodyLimit: MAX_ENROL_BODY, schema: { body: ENROL_BODY } }, async (request, reply) => {
      const enrolled = await gate.enrol(request.body, remoteIpOf(request.raw, trustedProxies));
      const keys = await fleetKeys();
      return reply.header('cache-control', 'no-store').send(keys === undefined ? enrolled : { ...enrolled, FLEET_KEYS: keys });
    });
    refuseOtherMethods(app, enrolPath, ['POST']);
  };
}
