/**
 * POST /api/boxes/<id>/unquarantine: an operator lists a quarantined box in SEARCH again (after looking
 * at it, e.g. re-flashing it). POST only, and from a logged-in operator with the session's CSRF token.
 * The publisher that caught the box still does not use it while it runs: its own audit saw the bytes.
 */
import type { FastifyInstance } from 'fastify';
import { HttpError, notFound } from '../../../../shared/src/http-app.js';
import type { Logger } from '../../../../shared/src/log.js';
import { isIdOf } from '../../../../shared/src/protocol/index.js';
import { ignoreBodies } from '../../http/json-body.js';
import { refuseOtherMethods } from '../../http/refusals.js';
import type { Quarantine } from '../../trust/quarantine.js';
import { principalOf, requireCsrf } from './api-guard.js';

const UNQUARANTINE = '/api/boxes/:id/unquarantine';

export function quarantineApi(deps: { quarantine: Quarantine; log: Logger }) {
  return async (app: FastifyInstance): Promise<void> => {
    await app.register(async (scope: FastifyInstance) => {
      ignoreBodies(scope);
      scope.addHook('onRequest', requireCsrf);
      scope.post<{ Params: { id: string } }>(UNQUARANTINE, async (request) => {
        const { id } = request.params;
        if (!isIdOf(id, 'BOX')) throw new HttpError(400, 'E_ID', 'not a box ID');
        if (!(await deps.quarantine.clear(id))) throw notFound('that box is not quarantined');
        deps.log.info({ user: principalOf(request).username, box: id }, 'box quarantine cleared');
        return { ID: id, ACTION: 'unquarantine' };
      });
    });
    refuseOtherMethods(app, UNQUARANTINE, ['POST'], { message: 'POST only' });
  };
}
