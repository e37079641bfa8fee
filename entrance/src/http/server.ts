/**
 * The entrance's HTTP server: one fastify app (shared/src/http-app.ts) with a router per concern, on
 * the port boxes and publishers also open their WebSockets on (upgrades go to `onUpgrade`, not here).
 *   /metrics                       metrics-routes.ts (at the root, whatever BASE_URL is)
 *   {BASE_URL}/, /healthz          index-routes.ts
 *   {BASE_URL}/speedtest/…         speedtest/routes.ts
 *   {BASE_URL}/releases/…          updates/release-routes.ts (agent binaries for boxes)
 *   <ws path>/challenge, /enrol    enrolment/routes.ts
 *   /dashboard…, /api…             dashboard/routes.ts
 * Anything else is 404 for GET and HEAD, and 405 for other methods.
 */
import fastifyCookie from '@fastify/cookie';
import { createHttpApp } from '../../../shared/src/http-app.js';
import type { HttpApp } from '../../../shared/src/http-app.js';
import type { UpgradeHandler } from '../../../shared/src/http-guard.js';
import type { Dashboard } from '../dashboard/routes.js';
import type { EnrolmentGate } from '../enrolment/gate.js';
import { enrolmentRoutes } from '../enrolment/routes.js';
import { speedTestRoutes } from '../speedtest/routes.js';
import type { EntranceServices } from '../context.js';
import { indexRoutes } from './index-routes.js';
import { metricsRoutes } from './metrics-routes.js';
import { unrouted } from './refusals.js';
import { releaseRoutes } from '../updates/release-routes.js';

export interface EntranceHttpDeps {
  services: EntranceServices;
  dashboard: Dashboard;
  gate: EnrolmentGate;
  /** The WebSocket path without its trailing slash. */
  wsPath: string;
  onUpgrade: UpgradeHandler;
  /** The fleet public keys the enrolment answer carries (undefined: boxes are not told to check grants). */
  fleetKeys(): Promise<Record<string, string> | undefined>;
}

export function createEntranceHttp(deps: EntranceHttpDeps): HttpApp {
  const { services, dashboard, gate, wsPath } = deps;
  const basePath = services.config.BASE_URL.replace(/\/+$/, '');
  const web = createHttpApp({ log: services.log, onUpgrade: deps.onUpgrade, unrouted: (request) => unrouted(request.method) });
  const { app } = web;

  void app.register(fastifyCookie);
  // Nothing the entrance answers may be cached unless its route says otherwise (the dashboard's files).
  app.addHook('onSend', async (_request, reply, payload) => {
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    return payload;
  });

  void app.register(metricsRoutes(services.metrics, services.log.child({ mod: 'metrics' })));
  void app.register(indexRoutes(services, basePath));
  void app.register(
    speedTestRoutes({
      basePath,
      trustedProxies: services.trustedProxies,
      log: services.log.child({ mod: 'speedtest' }),
      authenticate: (req, ip) => gate.authenticateUpgrade(req, ip),
    }),
  );
  void app.register(releaseRoutes(services.releases, basePath));
  void app.register(enrolmentRoutes(gate, wsPath, services.trustedProxies, deps.fleetKeys));
  void app.register(dashboard.routes);
  return web;
}
