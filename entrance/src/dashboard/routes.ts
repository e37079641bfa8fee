/**
 * The operators' dashboard (/dashboard/) and its JSON API (/api/), on the entrance's own port. The
 * contract is docs/dashboard-api.md. Everything under /api/ needs a session or a bearer token; forms
 * that change something need the session's CSRF token. One router per concern, in routes/.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { EntranceServices } from '../context.js';
import { Auth } from './auth.js';
import type { Fleet } from './fleet.js';
import { createLiveEvents } from './live-events.js';
import type { Publishers } from './publishers.js';
import { fleetApi } from './routes/api-fleet.js';
import { enrolmentApi } from './routes/api-enrolment.js';
import { quarantineApi } from './routes/api-quarantine.js';
import { updatesApi } from './routes/api-updates.js';
import { requireOperator } from './routes/api-guard.js';
import { publishersApi } from './routes/api-publishers.js';
import { publisherAccountsApi } from './routes/api-publisher-accounts.js';
import { eventsApi } from './routes/events.js';
import { pages } from './routes/pages.js';
import { staticFiles } from './routes/static-files.js';
import { fleetSummary } from './summary.js';
import { methodNotAllowed, notFound } from '../../../shared/src/http-app.js';
import { ignoreBodies } from '../http/json-body.js';

/**
 * Sent with every dashboard and API response. The pages load only their own files: no inline script or
 * style (an injected <script> or style attribute does nothing), no plugins, no framing, no <base>, and
 * forms post only here. Referrer-Policy keeps dashboard URLs (box IDs) out of other sites' logs.
 */
export const DASHBOARD_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

export interface Dashboard {
  fleet: Fleet;
  publishers: Publishers;
  auth: Auth;
  /** The fastify plugin serving /dashboard and /api: every route under both prefixes is its. */
  routes(app: FastifyInstance): Promise<void>;
  stop(): void;
}

export function createDashboard(services: EntranceServices, now: () => number = Date.now): Dashboard {
  const { config, redis, keys, fleet, publishers } = services;
  const auth = new Auth({ redis, keys, users: config.DASHBOARD_USERS, apiTokens: config.API_TOKENS, sessionSeconds: config.SESSION_HOURS * 3600, now });
  const summary = () => fleetSummary({ redis, fleet, publishers, now });
  const live = createLiveEvents({ fleet, summary, log: services.log });

  /** /api/: the operator check first, then the routers; what none of them takes is refused after the check. */
  async function api(app: FastifyInstance): Promise<void> {
    ignoreBodies(app); // only the POSTs that create something read a body (their routers give them a parser)
    app.addHook('onRequest', requireOperator(auth));
    await app.register(fleetApi({ redis, fleet, registry: services.registry, summary, now }));
    await app.register(publishersApi(publishers));
    await app.register(eventsApi(live));
    await app.register(enrolmentApi({ store: services.enrolment, requireEnrolment: config.REQUIRE_ENROLMENT, log: services.log }));
    await app.register(publisherAccountsApi({ accounts: services.publisherAccounts, requirePublisherAuth: config.REQUIRE_PUBLISHER_AUTH, log: services.log }));
    await app.register(quarantineApi({ quarantine: services.quarantine, log: services.log }));
    await app.register(updatesApi({ releases: services.releases, rollouts: services.rollouts, log: services.log }));
    const unknown = async (request: FastifyRequest): Promise<never> => {
      if (request.method !== 'GET') throw methodNotAllowed('GET', 'only enrolment, publisher-account, quarantine, release, rollout and group changes are POSTed; the rest of the API is read-only');
      throw notFound('no such API');
    };
    app.all('/api', unknown);
    app.all('/api/*', unknown);
  }

  return {
    fleet,
    publishers,
    auth,
    async routes(app) {
      app.addHook('onRequest', async (_request: FastifyRequest, reply: FastifyReply) => {
        reply.headers(DASHBOARD_SECURITY_HEADERS);
      });
      await app.register(pages({ auth, entranceId: services.id, sessionSeconds: config.SESSION_HOURS * 3600, trustedProxies: services.trustedProxies, log: services.log }));
      await app.register(staticFiles);
      await app.register(api);
    },
    stop() {
      live.stop();
    },
  };
}
