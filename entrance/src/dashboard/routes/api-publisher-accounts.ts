/**
 * Publisher accounts through the API: GET /api/publisher-accounts lists them; POST /api/publisher-accounts
 * {NAME, QUOTA_GB?} creates one (its token shown once); POST /api/publisher-accounts/<id>/revoke revokes one.
 * Changes are POST only and, from a logged-in operator, need the session's CSRF token, as enrolment's are.
 */
import type { FastifyInstance } from 'fastify';
import { HttpError, notFound } from '../../../../shared/src/http-app.js';
import type { Logger } from '../../../../shared/src/log.js';
import { isIdOf } from '../../../../shared/src/protocol/index.js';
import { DEFAULT_QUOTA_GB, publisherIdOf, quotaBytesOf } from '../../publishers/accounts.js';
import type { PublisherAccounts } from '../../publishers/accounts.js';
import { ignoreBodies } from '../../http/json-body.js';
import { refuseOtherMethods } from '../../http/refusals.js';
import { optionalJsonBodyAfterCsrf } from './api-enrolment.js';
import { principalOf, requireCsrf } from './api-guard.js';

export interface PublisherAccountsApiDeps {
  accounts: PublisherAccounts;
  requirePublisherAuth: boolean;
  log: Logger;
}

const PATH = '/api/publisher-accounts';
const REVOKE = `${PATH}/:id/revoke`;
const MAX_BODY = 4096;
const CREATE_BODY = {
  type: 'object',
  required: ['NAME'],
  properties: { NAME: { type: 'string', maxLength: 100 }, QUOTA_GB: { anyOf: [{ type: 'number' }, { type: 'string', maxLength: 40 }] } },
} as const;

function create({ accounts, log }: PublisherAccountsApiDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    optionalJsonBodyAfterCsrf(app);
    app.post<{ Body: { NAME: string; QUOTA_GB?: number | string } }>(PATH, { bodyLimit: MAX_BODY, schema: { body: CREATE_BODY } }, async (request, reply) => {
      let id: string;
      let quotaBytes: number;
      try {
        id = publisherIdOf(request.body.NAME);
        quotaBytes = quotaBytesOf(String(request.body.QUOTA_GB ?? DEFAULT_QUOTA_GB), 'QUOTA_GB');
      } catch (err) {
        throw new HttpError(400, 'E_FORMAT', err instanceof Error ? err.message : String(err));
      }
      const created = await accounts.create(id, quotaBytes);
      if (!created) throw new HttpError(409, 'E_ID', `${id} already has an account (names are not reused, revoked ones included)`);
      log.info({ user: principalOf(request).username, publisher: id, quotaBytes }, 'publisher account created');
      return reply.code(201).send({ TOKEN: created.token, ...created.info });
    });
  };
}

function revoke({ accounts, log }: PublisherAccountsApiDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    ignoreBodies(app);
    app.addHook('onRequest', requireCsrf);
    app.post<{ Params: { id: string } }>(REVOKE, async (request) => {
      const { id } = request.params;
      if (!isIdOf(id, 'PUBLISHER')) throw new HttpError(400, 'E_ID', 'not a publisher ID');
      if (!(await accounts.revoke(id))) throw notFound('no such publisher account');
      log.info({ user: principalOf(request).username, publisher: id }, 'publisher revoked');
      return { ID: id, STATE: 'revoked' };
    });
  };
}

export function publisherAccountsApi(deps: PublisherAccountsApiDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get(PATH, { exposeHeadRoute: false }, async () => ({ REQUIRE_PUBLISHER_AUTH: deps.requirePublisherAuth, PUBLISHERS: await deps.accounts.list() }));
    await app.register(create(deps));
    await app.register(revoke(deps));
    refuseOtherMethods(app, PATH, ['GET', 'POST']);
    refuseOtherMethods(app, REVOKE, ['POST'], { message: 'POST only' });
  };
}
