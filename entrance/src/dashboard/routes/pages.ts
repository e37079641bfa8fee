/**
 * The operators' pages: /dashboard/ (the login form, or the dashboard with the session's CSRF token in
 * it), and the login and logout forms they post. The login form's CSRF guard is a random value in a
 * cookie that the posted form must repeat; logout needs the session's own CSRF token.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fastifyFormbody from '@fastify/formbody';
import { HttpError } from '../../../../shared/src/http-app.js';
import { isRecord } from '../../../../shared/src/protocol/json.js';
import type { Logger } from '../../../../shared/src/log.js';
import { arrivedOverTls, remoteIpOf } from '../../../../shared/src/peer-address.js';
import type { TrustedProxies } from '../../../../shared/src/peer-address.js';
import { unrouted } from '../../http/refusals.js';
import { sameSecret } from '../auth.js';
import type { Auth } from '../auth.js';
import { LOGIN_CSRF_COOKIE, clearLoginCsrfCookie, clearSessionCookie, setLoginCsrfCookie, setSessionCookie } from '../cookies.js';
import { loginPage, tooManyAttemptsPage } from '../login-page.js';
import { PUBLIC_DIR } from './static-files.js';

export interface PagesDeps {
  auth: Auth;
  entranceId: string;
  sessionSeconds: number;
  trustedProxies: TrustedProxies;
  log: Logger;
}

/** A posted form's field, '' when it is missing or repeated (a form is what @fastify/formbody parsed, or nothing). */
function field(body: unknown, name: string): string {
  const value = isRecord(body) ? body[name] : undefined;
  return typeof value === 'string' ? value : '';
}

/** A login or logout form is three short fields. */
const MAX_FORM_BYTES = 8 * 1024;

const html = (reply: FastifyReply, page: string): FastifyReply => reply.type('text/html; charset=utf-8').send(page);
const seeDashboard = (reply: FastifyReply): FastifyReply => reply.redirect('/dashboard/', 303);

export function pages(deps: PagesDeps) {
  const { auth, trustedProxies, log } = deps;
  const overTls = (request: FastifyRequest): boolean => arrivedOverTls(request.raw, trustedProxies);
  const operator = async (request: FastifyRequest) => {
    const found = await auth.authenticate(request);
    return found === 'busy' ? undefined : found;
  };

  async function dashboardPage(request: FastifyRequest<{ Querystring: { error?: string } }>, reply: FastifyReply): Promise<FastifyReply> {
    const who = await operator(request);
    if (!who || who.csrf === undefined) {
      const csrf = randomBytes(24).toString('hex');
      setLoginCsrfCookie(reply, csrf, overTls(request));
      return html(reply, loginPage({ csrf, error: request.query.error !== undefined, entranceId: deps.entranceId }));
    }
    const template = await readFile(path.join(PUBLIC_DIR, 'index.html'), 'utf8');
    return html(reply, template.replace('<!--CSRF-->', `<meta name="csrf-token" content="${who.csrf}">`));
  }

  async function login(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const cookieCsrf = request.cookies[LOGIN_CSRF_COOKIE] ?? '';
    const ok = cookieCsrf.length > 0 && sameSecret(field(request.body, 'csrf'), cookieCsrf);
    const ip = remoteIpOf(request.raw, trustedProxies);
    const username = field(request.body, 'username');
    const result = ok ? await auth.login(username, field(request.body, 'password'), ip) : { reason: 'wrong' as const };
    if ('reason' in result) {
      log.warn({ ip, reason: result.reason }, 'dashboard login refused');
      if (result.reason === 'wrong') return reply.redirect('/dashboard/?error=1', 303);
      // Refused before any password check: 429, so scripts and tests can tell it from a wrong password.
      return html(reply.code(429).header('retry-after', String(result.retryAfterSeconds)), tooManyAttemptsPage(result.retryAfterSeconds));
    }
    log.info({ user: username, ip }, 'operator logged in');
    setSessionCookie(reply, result.sessionId, deps.sessionSeconds, overTls(request));
    clearLoginCsrfCookie(reply, overTls(request));
    return seeDashboard(reply);
  }

  async function logout(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const who = await operator(request);
    if (who?.csrf !== undefined && sameSecret(field(request.body, 'csrf'), who.csrf)) await auth.logout(who);
    else if (who) throw new HttpError(403, 'E_FORBIDDEN', 'missing or wrong CSRF token');
    clearSessionCookie(reply, overTls(request));
    return seeDashboard(reply);
  }

  return async (app: FastifyInstance): Promise<void> => {
    await app.register(fastifyFormbody, { bodyLimit: MAX_FORM_BYTES });
    app.all('/dashboard', async (_request, reply) => seeDashboard(reply));
    app.get('/dashboard/', dashboardPage);
    app.post('/dashboard/login', login);
    app.post('/dashboard/logout', logout);
    // The rest of /dashboard/ is the dashboard's too, so its refusals carry the dashboard's policy.
    app.all('/dashboard/*', async (request) => {
      throw unrouted(request.method);
    });
  };
}
