/**
 * The dashboard's two cookies, set through @fastify/cookie. Both are HttpOnly (no script reads them)
 * and SameSite=Strict (no other site's form or link sends them), and Secure (sent back over TLS only)
 * when the page was served over TLS; plain-HTTP development keeps working.
 *   dandelion_session     the operator's session (Path /, SESSION_HOURS)
 *   dandelion_login_csrf  the login form's CSRF value, which the posted form must repeat (Path /dashboard/, an hour)
 */
import type { FastifyReply } from 'fastify';

export const SESSION_COOKIE = 'dandelion_session';
export const LOGIN_CSRF_COOKIE = 'dandelion_login_csrf';
const LOGIN_CSRF_SECONDS = 3600;

const base = (path: string, secure: boolean) => ({ path, httpOnly: true, sameSite: 'strict', secure }) as const;

export function setSessionCookie(reply: FastifyReply, sessionId: string, maxAgeSeconds: number, secure: boolean): void {
  reply.setCookie(SESSION_COOKIE, sessionId, { ...base('/', secure), maxAge: Math.ceil(maxAgeSeconds) });
}

export function clearSessionCookie(reply: FastifyReply, secure: boolean): void {
  reply.clearCookie(SESSION_COOKIE, base('/', secure));
}

export function setLoginCsrfCookie(reply: FastifyReply, csrf: string, secure: boolean): void {
  reply.setCookie(LOGIN_CSRF_COOKIE, csrf, { ...base('/dashboard/', secure), maxAge: LOGIN_CSRF_SECONDS });
}

export function clearLoginCsrfCookie(reply: FastifyReply, secure: boolean): void {
  reply.clearCookie(LOGIN_CSRF_COOKIE, base('/dashboard/', secure));
}
