/**
 * The operators' dashboard (/dashboard/) and its JSON API (/api/), on the entrance's own port. The
 * contract is docs/dashboard-api.md. Everything under /api/ needs a session or a bearer token; forms
 * that change something need the session's CSRF token.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isIdOf } from '../../../shared/src/protocol/index.js';
import { arrivedOverTls, remoteIpOf } from '../../../shared/src/peer-address.js';
import { readBodyText, sendJson } from '../respond.js';
import type { EntranceServices } from '../context.js';
import { bucketStart } from '../traffic/fold.js';
import { publishersOfBox, trafficSeries, trafficTotals } from '../traffic/read.js';
import type { TrafficScope } from '../traffic/read.js';
import { Auth, LOGIN_CSRF_COOKIE, clearedSessionCookie, cookiesOf, loginCsrfCookie, readForm, redirect, sameSecret, sessionCookie } from './auth.js';
import type { Principal } from './auth.js';
import { MAX_PER_PAGE, SORTABLE } from './fleet.js';
import type { Fleet } from './fleet.js';
import type { BoxState } from './fleet.js';
import { loginPage, tooManyAttemptsPage } from './login-page.js';
import { parseDuration, parseUses } from '../enrolment/token-limits.js';
import { MAX_PUBLISHERS_PAGE, PUBLISHERS_PAGE, offloadRatio } from './publishers.js';
import type { Publishers } from './publishers.js';

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const PUBLIC_DIR = path.join(REPO_ROOT, 'entrance', 'src', 'dashboard', 'public');
/**
 * Files the page loads, by name: its own (every script module and style sheet in public/, listed once
 * at start, so a request can only name one of them, never a path), and map data and a decoder that npm
 * packages ship.
 */
const STATIC_FILES: ReadonlyMap<string, { file: string; type: string }> = new Map([
  ...ownStaticFiles(),
  ['countries-110m.json', { file: path.join(REPO_ROOT, 'node_modules', 'world-atlas', 'countries-110m.json'), type: 'application/json' }],
  ['topojson-client.min.js', { file: path.join(REPO_ROOT, 'node_modules', 'topojson-client', 'dist', 'topojson-client.min.js'), type: 'text/javascript; charset=utf-8' }],
]);

function ownStaticFiles(): Array<[string, { file: string; type: string }]> {
  return readdirSync(PUBLIC_DIR)
    .filter((name) => /^[a-z0-9-]+\.(js|css)$/.test(name))
    .map((name) => [name, { file: path.join(PUBLIC_DIR, name), type: name.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8' }]);
}

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
const EVENTS_INTERVAL_MS = 2_000;
const STATES: ReadonlySet<string> = new Set(['online', 'stale', 'offline']);

export interface Dashboard {
  fleet: Fleet;
  publishers: Publishers;
  auth: Auth;
  /** Handles the request when it is the dashboard's or the API's; false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean>;
  stop(): void;
}

export function createDashboard(state: EntranceServices, now: () => number = Date.now): Dashboard {
  const { config, redis, keys } = state;
  const { fleet, publishers } = state;
  const auth = new Auth({ redis, keys, users: config.DASHBOARD_USERS, apiTokens: config.API_TOKENS, sessionSeconds: config.SESSION_HOURS * 3600, now });
  const streams = new Set<ServerResponse>();
  let eventsTimer: NodeJS.Timeout | undefined;
  let lastStates = new Map<string, BoxState>();

  async function summary(): Promise<Record<string, unknown>> {
    const states = await fleet.states();
    const counts = { ONLINE: 0, STALE: 0, OFFLINE: 0, TOTAL: states.size };
    for (const s of states.values()) counts[s.toUpperCase() as 'ONLINE' | 'STALE' | 'OFFLINE'] += 1;
    const nowS = Math.floor(now() / 1000);
    const bucket = async (resolution: 'hour' | 'day'): Promise<number> =>
      (await trafficSeries(redis, { scope: 'fleet', resolution, from: bucketStart(nowS, resolution), to: nowS }))[0]?.bytes ?? 0;
    const [total, hour, day, origin, publisherCount] = await Promise.all([trafficTotals(redis), bucket('hour'), bucket('day'), publishers.originBytes(), publishers.count()]);
    return {
      BOXES: counts,
      BYTES: { HOUR: hour, DAY: day, TOTAL: total.bytes },
      OFFLOAD: { BOX_BYTES: total.bytes, ORIGIN_BYTES: origin, RATIO: offloadRatio(total.bytes, origin) },
      PUBLISHERS: publisherCount,
      NOW: now() / 1000,
    };
  }

  /** One computation every 2 s while anyone listens, shared by all listeners. */
  async function pushEvents(): Promise<void> {
    const [sum, states] = await Promise.all([summary(), fleet.states()]);
    const changed = [...states].filter(([id, s]) => lastStates.get(id) !== s).map(([id]) => id);
    for (const id of lastStates.keys()) if (!states.has(id)) changed.push(id);
    lastStates = states;
    const text = `event: summary\ndata: ${JSON.stringify(sum)}\n\n${changed.length ? `event: boxes\ndata: ${JSON.stringify({ CHANGED: changed })}\n\n` : ''}`;
    for (const res of streams) res.write(text);
  }

  function scheduleEvents(): void {
    if (eventsTimer || streams.size === 0) return;
    eventsTimer = setTimeout(() => {
      pushEvents()
        .catch((err: unknown) => state.log.warn({ err }, 'dashboard events not computed'))
        .finally(() => {
          eventsTimer = undefined;
          scheduleEvents();
        });
    }, EVENTS_INTERVAL_MS);
  }

  const numberParam = (url: URL, name: string, fallback: number): number => {
    const raw = url.searchParams.get(name);
    const n = raw === null || raw === '' ? fallback : Number(raw);
    if (!Number.isFinite(n)) throw new BadRequest(`${name} must be a number`);
    return n;
  };

  async function api(req: IncomingMessage, res: ServerResponse, url: URL, who: Principal): Promise<void> {
    const p = url.pathname;
    if (p === '/api/session') return sendJson(res, 200, { USERNAME: who.username, CSRF: who.csrf ?? null });
    if (p === '/api/summary') return sendJson(res, 200, await summary());
    if (p === '/api/boxes') {
      const sort = url.searchParams.get('sort') || 'ID';
      if (!SORTABLE.has(sort)) throw new BadRequest(`sort must be one of ${[...SORTABLE].join(', ')}`);
      const order = url.searchParams.get('order') || 'asc';
      if (order !== 'asc' && order !== 'desc') throw new BadRequest('order must be asc or desc');
      const stateFilter = url.searchParams.get('state') || undefined;
      if (stateFilter !== undefined && !STATES.has(stateFilter)) throw new BadRequest('state must be online, stale or offline');
      const page = numberParam(url, 'page', 1);
      const perPage = numberParam(url, 'per_page', 50);
      if (!Number.isInteger(page) || page < 1) throw new BadRequest('page must be a whole number from 1');
      if (!Number.isInteger(perPage) || perPage < 1 || perPage > MAX_PER_PAGE) throw new BadRequest(`per_page must be 1-${MAX_PER_PAGE}`);
      const q = (url.searchParams.get('q') ?? '').slice(0, 200);
      return sendJson(res, 200, await fleet.list({ sort, order, q, state: stateFilter as BoxState | undefined, page, perPage }));
    }
    const boxMatch = /^\/api\/boxes\/([^/]+)(\/history)?$/.exec(p);
    if (boxMatch) {
      const id = decodeSegment(boxMatch[1] as string);
      if (!isIdOf(id, 'BOX')) throw new BadRequest('not a box ID');
      if (boxMatch[2]) {
        const nowS = now() / 1000;
        const to = numberParam(url, 'to', nowS);
        const from = numberParam(url, 'from', to - 6 * 3600);
        if (to < from) throw new BadRequest('from must not be after to');
        return sendJson(res, 200, { POINTS: await fleet.history(id, from, to) });
      }
      const row = await fleet.row(id);
      if (!row) return sendJson(res, 404, { ERROR: 'no such box' });
      const exchange = await state.registry.exchangeOf(id);
      return sendJson(res, 200, { BOX: row, EXCHANGE: exchange ?? null, PUBLISHERS: await publishersOfBox(redis, id) });
    }
    if (p === '/api/traffic') {
      const scope = (url.searchParams.get('scope') || 'fleet') as TrafficScope;
      if (!['fleet', 'box', 'publisher'].includes(scope)) throw new BadRequest('scope must be fleet, box or publisher');
      const resolution = (url.searchParams.get('resolution') || 'minute') as 'minute' | 'hour' | 'day';
      if (!['minute', 'hour', 'day'].includes(resolution)) throw new BadRequest('resolution must be minute, hour or day');
      const span = { minute: 3600, hour: 48 * 3600, day: 30 * 86400 }[resolution];
      const nowS = Math.floor(now() / 1000);
      const to = numberParam(url, 'to', nowS);
      const from = numberParam(url, 'from', to - span);
      const id = url.searchParams.get('id') || undefined;
      try {
        return sendJson(res, 200, { POINTS: await trafficSeries(redis, { scope, ...(id ? { id } : {}), resolution, from, to }) });
      } catch (err) {
        if (err instanceof RangeError) throw new BadRequest(err.message);
        throw err;
      }
    }
    if (p === '/api/publishers') {
      // The newest page only: SEARCH records any ID a stranger sends, so never everything at once.
      const limit = numberParam(url, 'limit', PUBLISHERS_PAGE);
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PUBLISHERS_PAGE) throw new BadRequest(`limit must be a whole number from 1 to ${MAX_PUBLISHERS_PAGE}`);
      const [rows, total] = await Promise.all([publishers.list(limit), publishers.count()]);
      return sendJson(res, 200, { PUBLISHERS: rows, TOTAL: total });
    }
    if (p === '/api/map') return sendJson(res, 200, { BOXES: await fleet.map() });
    if (p === '/api/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      res.write(`retry: 3000\nevent: summary\ndata: ${JSON.stringify(await summary())}\n\n`);
      streams.add(res);
      req.on('close', () => streams.delete(res));
      scheduleEvents();
      return;
    }
    sendJson(res, 404, { ERROR: 'no such API' });
  }

  /**
   * Enrolment: GET /api/enrolment lists boxes (enrolled, revoked, pending) and tokens; POST /api/tokens
   * makes a token (shown once); POST /api/tokens/<id>/revoke and /api/boxes/<id>/(revoke|restore|forget)
   * change one. A logged-in operator's POST must carry the session's CSRF token in X-CSRF-Token.
   */
  async function enrolmentApi(req: IncomingMessage, res: ServerResponse, url: URL, who: Principal): Promise<boolean> {
    const p = url.pathname;
    const store = state.enrolment;
    if (p === '/api/enrolment' && req.method === 'GET') {
      const [boxes, pending, tokens] = await Promise.all([store.listBoxes(), store.listPending(), store.listTokens()]);
      sendJson(res, 200, { REQUIRE_ENROLMENT: config.REQUIRE_ENROLMENT, BOXES: boxes, PENDING: pending, TOKENS: tokens });
      return true;
    }
    const tokenAction = /^\/api\/tokens\/([0-9a-f]{12})\/revoke$/.exec(p);
    const boxAction = /^\/api\/boxes\/([^/]+)\/(revoke|restore|forget)$/.exec(p);
    if (p !== '/api/tokens' && !tokenAction && !boxAction) return false;
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      sendJson(res, 405, { ERROR: 'POST only' });
      return true;
    }
    if (who.csrf !== undefined && !sameSecret(String(req.headers['x-csrf-token'] ?? ''), who.csrf)) {
      sendJson(res, 403, { ERROR: 'missing or wrong X-CSRF-Token' });
      return true;
    }
    if (p === '/api/tokens') {
      const body = await readJsonBody(req);
      const expires = typeof body.EXPIRES === 'string' ? body.EXPIRES : '7d';
      const uses = typeof body.USES === 'number' || typeof body.USES === 'string' ? String(body.USES) : '1';
      let expiresInSeconds: number;
      let maxUses: number;
      try {
        expiresInSeconds = parseDuration(expires, 'EXPIRES');
        maxUses = parseUses(uses, 'USES');
      } catch (err) {
        throw new BadRequest((err as Error).message);
      }
      const note = typeof body.NOTE === 'string' ? body.NOTE : '';
      const created = await store.createToken({ expiresInSeconds, maxUses, note });
      state.log.info({ user: who.username, token: created.info.ID, uses: maxUses }, 'fleet token created');
      sendJson(res, 201, { TOKEN: created.token, ...created.info });
      return true;
    }
    if (tokenAction) {
      const id = tokenAction[1] as string;
      if (!(await store.revokeToken(id))) return sendJson(res, 404, { ERROR: 'no such token' }), true;
      state.log.info({ user: who.username, token: id }, 'fleet token revoked');
      sendJson(res, 200, { ID: id, REVOKED: true });
      return true;
    }
    const id = decodeSegment((boxAction as RegExpExecArray)[1] as string);
    const verb = (boxAction as RegExpExecArray)[2] as 'revoke' | 'restore' | 'forget';
    if (!isIdOf(id, 'BOX')) throw new BadRequest('not a box ID');
    const done = verb === 'forget' ? await store.forget(id) : await store.setRevoked(id, verb === 'revoke');
    if (!done) return sendJson(res, 404, { ERROR: 'that box never enrolled' }), true;
    state.log.info({ user: who.username, box: id, action: verb }, 'box enrolment changed');
    sendJson(res, 200, { ID: id, ACTION: verb });
    return true;
  }

  async function dashboardPage(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const found = await auth.authenticate(req);
    const who = found === 'busy' ? undefined : found;
    if (!who || who.csrf === undefined) {
      // The login form's CSRF guard is a random value in a cookie that the posted form must repeat.
      const csrf = randomBytes(24).toString('hex');
      const html = loginPage({ csrf, error: url.searchParams.has('error'), entranceId: state.id });
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store',
        'set-cookie': loginCsrfCookie(csrf, arrivedOverTls(req, state.trustedProxies)),
      });
      res.end(html);
      return;
    }
    const template = await readFile(path.join(PUBLIC_DIR, 'index.html'), 'utf8');
    const html = template.replace('<!--CSRF-->', `<meta name="csrf-token" content="${who.csrf}">`);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(html);
  }

  async function handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    const p = url.pathname;
    if (p === '/dashboard' || p.startsWith('/dashboard/') || p === '/api' || p.startsWith('/api/')) {
      for (const [name, value] of Object.entries(DASHBOARD_SECURITY_HEADERS)) res.setHeader(name, value);
    }
    if (p === '/dashboard') {
      redirect(res, '/dashboard/');
      return true;
    }
    if (p.startsWith('/dashboard/static/')) {
      const entry = STATIC_FILES.get(p.slice('/dashboard/static/'.length));
      if (!entry || req.method !== 'GET') return sendJson(res, 404, { ERROR: 'not found' }), true;
      const body = await readFile(entry.file).catch(() => undefined);
      if (!body) return sendJson(res, 404, { ERROR: 'not found' }), true;
      res.writeHead(200, { 'content-type': entry.type, 'content-length': body.length, 'cache-control': 'no-cache' });
      res.end(body);
      return true;
    }
    if (p === '/dashboard/login' && req.method === 'POST') {
      const form = await readForm(req);
      const cookieCsrf = cookiesOf(req).get(LOGIN_CSRF_COOKIE) ?? '';
      const ok = form && cookieCsrf.length > 0 && sameSecret(form.get('csrf') ?? '', cookieCsrf);
      const ip = remoteIpOf(req, state.trustedProxies);
      const secure = arrivedOverTls(req, state.trustedProxies);
      const result = ok ? await auth.login(form.get('username') ?? '', form.get('password') ?? '', ip) : { reason: 'wrong' as const };
      if ('reason' in result) {
        state.log.warn({ ip, reason: result.reason }, 'dashboard login refused');
        if (result.reason === 'wrong') redirect(res, '/dashboard/?error=1');
        else {
          // Refused before any password check: 429, so scripts and tests can tell it from a wrong password.
          const html = tooManyAttemptsPage(result.retryAfterSeconds);
          res.writeHead(429, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'retry-after': String(result.retryAfterSeconds), 'content-length': Buffer.byteLength(html) });
          res.end(html);
        }
        return true;
      }
      state.log.info({ user: form?.get('username'), ip }, 'operator logged in');
      redirect(res, '/dashboard/', { 'set-cookie': [sessionCookie(result.sessionId, config.SESSION_HOURS * 3600, secure), loginCsrfCookie(undefined, secure)] });
      return true;
    }
    if (p === '/dashboard/logout' && req.method === 'POST') {
      const found = await auth.authenticate(req);
      const who = found === 'busy' ? undefined : found;
      const form = await readForm(req);
      if (who?.csrf !== undefined && form && sameSecret(form.get('csrf') ?? '', who.csrf)) await auth.logout(who);
      else if (who) return sendJson(res, 403, { ERROR: 'missing or wrong CSRF token' }), true;
      redirect(res, '/dashboard/', { 'set-cookie': clearedSessionCookie(arrivedOverTls(req, state.trustedProxies)) });
      return true;
    }
    if (p === '/dashboard/' && (req.method === 'GET' || req.method === 'HEAD')) {
      await dashboardPage(req, res, url);
      return true;
    }
    if (p === '/api' || p.startsWith('/api/')) {
      const who = await auth.authenticate(req);
      if (who === 'busy') {
        res.setHeader('retry-after', '1');
        return sendJson(res, 429, { ERROR: 'too many token checks at once; try again' }), true;
      }
      if (!who) return sendJson(res, 401, { ERROR: 'log in at /dashboard/ or send Authorization: Bearer <token>' }), true;
      try {
        if (await enrolmentApi(req, res, url, who)) return true;
        if (req.method !== 'GET') return sendJson(res, 405, { ERROR: 'only enrolment changes are POSTed; the rest of the API is read-only' }), true;
        await api(req, res, url, who);
      } catch (err) {
        if (!(err instanceof BadRequest)) throw err;
        sendJson(res, 400, { ERROR: err.message });
      }
      return true;
    }
    return false;
  }

  return {
    fleet,
    publishers,
    auth,
    handle,
    stop() {
      if (eventsTimer) clearTimeout(eventsTimer);
      for (const res of streams) res.end();
      streams.clear();
    },
  };
}

class BadRequest extends Error {}

/** A percent-encoded path segment; broken encoding (`%zz`) is the client's 400, not our 500. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new BadRequest('the path holds broken percent-encoding');
  }
}

/** A small JSON object body (at most 4 KiB); anything else is a BadRequest. */
async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const text = await readBodyText(req, 4096);
  if (text === undefined) throw new BadRequest('the body is over 4 KiB');
  if (text === '') return {};
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // refused below
  }
  throw new BadRequest('the body must be a JSON object');
}
