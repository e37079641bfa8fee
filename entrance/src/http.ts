/** The entrance's plain HTTP pages: the index (JSON for scripts, HTML for a browser) and a health probe. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { buildInfo } from '../../shared/src/version.js';
import { createSpeedTest } from './speedtest.js';
import { sendJson } from './respond.js';
import type { EntranceServices } from './context.js';
import type { Dashboard } from './dashboard/routes.js';
import type { EnrolmentGate } from './enrolment/gate.js';
import { remoteIpOf } from '../../shared/src/peer-address.js';
import { escapeHtml } from '../../shared/src/html.js';

export function createHttpHandler(state: EntranceServices, dashboard: Dashboard, gate: EnrolmentGate) {
  const base = state.config.BASE_URL.replace(/\/+$/, '');
  const speedTest = createSpeedTest({ basePath: base, trustedProxies: state.trustedProxies, log: state.log.child({ mod: 'speedtest' }), authenticate: (req, ip) => gate.authenticateUpgrade(req, ip) });
  // `url` is the parsed request-target; the server's guard (shared/src/http-guard.ts) refused any other.
  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    // First of all: Prometheus scrapes the root path, whatever BASE_URL is (token check inside).
    if (url.pathname === '/metrics') return state.metrics.serve(req, res);
    // Before the GET-only check: the speed test takes POST uploads and answers its own 405s.
    if (speedTest.owns(url.pathname)) return speedTest.handle(req, res, url);
    // Boxes fetch challenges and POST enrolments below the WebSocket path.
    if (gate.owns(url.pathname)) return gate.handle(req, res, url.pathname, remoteIpOf(req, state.trustedProxies));
    // The dashboard takes POSTed login and logout forms.
    if (await dashboard.handle(req, res, url)) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return sendJson(res, 405, { ERROR: 'method not allowed' });
    }
    if (url.pathname === `${base}/` || url.pathname === base || (base === '' && url.pathname === '/')) {
      const info = {
        ID: state.id,
        TYPE: 'ENTRANCE',
        URL: state.ownInfo().URL,
        VERSION: buildInfo().version,
        COMMIT: buildInfo().commit,
        BOXES_ONLINE: await state.registry.countOnline(),
        ENTRANCE_URLS: state.entranceUrls(),
      };
      if ((req.headers.accept ?? '').includes('text/html')) {
        const rows = Object.entries(info)
          .map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(Array.isArray(v) ? v.join(', ') : String(v))}</td></tr>`)
          .join('');
        const html = `<!doctype html><html><head><meta charset="utf-8"><title>Dandelion entrance</title></head><body><h1>Dandelion entrance</h1><table>${rows}</table></body></html>`;
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end(html);
        return;
      }
      return sendJson(res, 200, info);
    }
    if (url.pathname === `${base}/healthz`) {
      try {
        await state.redis.ping();
        return sendJson(res, 200, { OK: true });
      } catch (err) {
        return sendJson(res, 503, { OK: false, ERROR: `redis: ${(err as Error).message}` });
      }
    }
    sendJson(res, 404, { ERROR: 'not found' });
  };
}
