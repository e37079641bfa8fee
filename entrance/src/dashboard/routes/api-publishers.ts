/** GET /api/publishers: the newest publishers that searched here, with what their origins served and their offload. */
import type { FastifyInstance } from 'fastify';
import { HttpError } from '../../../../shared/src/http-app.js';
import { numberQuery } from '../../http/query.js';
import { MAX_PUBLISHERS_PAGE, PUBLISHERS_PAGE } from '../publishers.js';
import type { Publishers } from '../publishers.js';

export function publishersApi(publishers: Publishers) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get<{ Querystring: { limit?: string } }>('/api/publishers', { exposeHeadRoute: false }, async (request) => {
      // The newest page only: SEARCH records any ID a stranger sends, so never everything at once.
      const limit = numberQuery(request.query, 'limit', PUBLISHERS_PAGE);
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PUBLISHERS_PAGE) {
        throw new HttpError(400, 'E_FORMAT', `limit must be a whole number from 1 to ${MAX_PUBLISHERS_PAGE}`);
      }
      const [rows, total] = await Promise.all([publishers.list(limit), publishers.count()]);
      return { PUBLISHERS: rows, TOTAL: total };
    });
  };
}
