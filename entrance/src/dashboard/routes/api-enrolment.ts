/**
 * Enrolment through the API: GET /api/enrolment lists boxes (enrolled, revoked, pending) and tokens;
 * POST /api/tokens makes a token (shown once); POST /api/tokens/<id>/revoke and
 * /api/boxes/<id>/(revoke|restore|forget) change one; POST /api/boxes/<id>/approve {FINGERPRINT?} approves
 * the new key a re-flashed box asked to enrol with. Every change is POST only (405 otherwise) and,
 * from a logged-in operator, needs the session's CSRF token (requireCsrf).
 */
import type { FastifyInstance } from 'fastify';
import { HttpError } from '../../../../shared/src/http-app.js';
import type { Logger } from '../../../../shared/src/log.js';
import { isIdOf } from '../../../../shared/src/protocol/index.js';
import type { EnrolmentStore } from '../../enrolment/store.js';
import { parseDuration, parseUses } from '../../enrolment/token-limits.js';
import { ignoreBodies, takeJsonObjectBodies } from '../../http/json-body.js';
import { notFound } from '../../../../shared/src/http-app.js';
import { refuseOtherMethods } from '../../http/refusals.js';
import { principalOf, requireCsrf } from './api-guard.js';

export interface EnrolmentApiDeps {
  store: EnrolmentStore;
  requireEnrolment: boolean;
  log: Logger;
}

/** A token request is a few short fields. */
const MAX_TOKEN_BODY = 4096;
const TOKEN_BODY = {
  type: 'object',
  properties: { EXPIRES: { type: 'string' }, USES: { anyOf: [{ type: 'number' }, { type: 'string' }] }, NOTE: { type: 'string' } },
} as const;
type TokenBody = { EXPIRES?: string; USES?: number | string; NOTE?: string };

const BOX_ACTIONS = ['revoke', 'restore', 'forget'] as const;
const TOKEN_REVOKE = '/api/tokens/:id(^[0-9a-f]{12}$)/revoke';
const POST_ONLY = { message: 'POST only' } as const;

/** A POST behind the CSRF check whose JSON object body may be left out: no body at all is `{}`, as an empty one is. */
export function optionalJsonBodyAfterCsrf(app: FastifyInstance): void {
  takeJsonObjectBodies(app, { emptyBody: 'empty object' });
  app.addHook('onRequest', requireCsrf);
  app.addHook('preValidation', async (request) => {
    request.body ??= {};
  });
}

/** POST /api/tokens: a new fleet token (its secret shown this once). */
function createToken({ store, log }: EnrolmentApiDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    optionalJsonBodyAfterCsrf(app);
    app.post<{ Body: TokenBody }>('/api/tokens', { bodyLimit: MAX_TOKEN_BODY, schema: { body: TOKEN_BODY } }, async (request, reply) => {
      const body = request.body;
      let expiresInSeconds: number;
      let maxUses: number;
      try {
        expiresInSeconds = parseDuration(body.EXPIRES ?? '7d', 'EXPIRES');
        maxUses = parseUses(String(body.USES ?? '1'), 'USES');
      } catch (err) {
        throw new HttpError(400, 'E_FORMAT', err instanceof Error ? err.message : String(err));
      }
      const created = await store.createToken({ expiresInSeconds, maxUses, note: body.NOTE ?? '' });
      log.info({ user: principalOf(request).username, token: created.info.ID, uses: maxUses }, 'fleet token created');
      return reply.code(201).send({ TOKEN: created.token, ...created.info });
    });
  };
}

/** Changes named by their path (revoke a token; revoke, restore or forget a box): the body is not read. */
function changes({ store, log }: EnrolmentApiDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    ignoreBodies(app);
    app.addHook('onRequest', requireCsrf);
    app.post<{ Params: { id: string } }>(TOKEN_REVOKE, async (request) => {
      const { id } = request.params;
      if (!(await store.revokeToken(id))) throw notFound('no such token');
      log.info({ user: principalOf(request).username, token: id }, 'fleet token revoked');
      return { ID: id, REVOKED: true };
    });
    for (const verb of BOX_ACTIONS) {
      app.post<{ Params: { id: string } }>(`/api/boxes/:id/${verb}`, async (request) => {
        const { id } = request.params;
        if (!isIdOf(id, 'BOX')) throw new HttpError(400, 'E_ID', 'not a box ID');
        const done = verb === 'forget' ? await store.forget(id) : await store.setRevoked(id, verb === 'revoke');
        if (!done) throw notFound('that box never enrolled');
        log.info({ user: principalOf(request).username, box: id, action: verb }, 'box enrolment changed');
        return { ID: id, ACTION: verb };
      });
    }
  };
}

const APPROVE = '/api/boxes/:id/approve';
const APPROVE_BODY = { type: 'object', properties: { FINGERPRINT: { type: 'string', maxLength: 100 } } } as const;

/**
 * POST /api/boxes/<id>/approve: the operator approves the new key a re-flashed box asked to enrol with.
 * FINGERPRINT (optional) is the key the operator saw; a request that changed since is refused 409.
 */
function approveNewKey({ store, log }: EnrolmentApiDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    optionalJsonBodyAfterCsrf(app);
    app.post<{ Params: { id: string }; Body: { FINGERPRINT?: string } }>(APPROVE, { bodyLimit: MAX_TOKEN_BODY, schema: { body: APPROVE_BODY } }, async (request) => {
      const { id } = request.params;
      if (!isIdOf(id, 'BOX')) throw new HttpError(400, 'E_ID', 'not a box ID');
      const approved = await store.approve(id, request.body.FINGERPRINT ?? '');
      if (!approved.ok) {
        if (approved.reason === 'no such box') throw notFound('that box never enrolled');
        throw new HttpError(409, 'E_PENDING', approved.reason);
      }
      log.info({ user: principalOf(request).username, box: id, fingerprint: approved.fingerprint }, 'new box key approved');
      return { ID: id, ACTION: 'approve', FINGERPRINT: approved.fingerprint };
    });
  };
}

export function enrolmentApi(deps: EnrolmentApiDeps) {
  const { store } = deps;
  return async (app: FastifyInstance): Promise<void> => {
    app.get('/api/enrolment', { exposeHeadRoute: false }, async () => {
      const [boxes, pending, tokens] = await Promise.all([store.listBoxes(), store.listPending(), store.listTokens()]);
      return { REQUIRE_ENROLMENT: deps.requireEnrolment, BOXES: boxes, PENDING: pending, TOKENS: tokens };
    });
    await app.register(createToken(deps));
    await app.register(changes(deps));
    await app.register(approveNewKey(deps));
    // Outside requireCsrf: the wrong method is told so before any token is checked.
    for (const url of ['/api/tokens', TOKEN_REVOKE, APPROVE, ...BOX_ACTIONS.map((verb) => `/api/boxes/:id/${verb}`)]) refuseOtherMethods(app, url, ['POST'], POST_ONLY);
  };
}
