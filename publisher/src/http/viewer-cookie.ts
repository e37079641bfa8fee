/**
 * Which viewer asks for a playlist: a random ID in a cookie, so each viewer keeps the URIs it was given
 * (viewers.ts) across reloads and is spread over boxes the same way every time. It names no one: it is
 * made here, lasts a day, and is sent back only to this publisher.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

export const VIEWER_COOKIE = 'dandelion_viewer';
const VIEWER_ID = /^[0-9a-f]{32}$/;
const VIEWER_COOKIE_SECONDS = 86_400;

/** The viewer's ID from its cookie, setting a new one when it sent none, or one this publisher never makes. */
export function viewerIdOf(request: FastifyRequest, reply: FastifyReply): string {
  const sent = request.cookies[VIEWER_COOKIE];
  if (sent !== undefined && VIEWER_ID.test(sent)) return sent;
  const id = randomBytes(16).toString('hex');
  reply.setCookie(VIEWER_COOKIE, id, { path: '/', httpOnly: true, sameSite: 'lax', maxAge: VIEWER_COOKIE_SECONDS });
  return id;
}
