/**
 * Bodies that must be one small JSON object (an enrolment, a token request), whatever content-type the
 * client names: boxes and scripts have always sent them as text/plain as often as application/json.
 * Parsed by the codec's parseJsonSafe, so `__proto__` keys never reach a handler; the route's schema
 * then says which fields it takes.
 */
import type { FastifyInstance } from 'fastify';
import { HttpError } from '../../../shared/src/http-app.js';
import { isRecord, parseJsonSafe } from '../../../shared/src/protocol/json.js';

export function takeJsonObjectBodies(app: FastifyInstance, opts: { emptyBody: 'refused' | 'empty object' }): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, text, done) => {
    if (text === '' && opts.emptyBody === 'empty object') return done(null, {});
    let doc: unknown;
    try {
      doc = parseJsonSafe(String(text));
    } catch {
      doc = undefined; // refused just below, with the same words as a JSON array
    }
    if (isRecord(doc)) return done(null, doc);
    done(new HttpError(400, 'E_FORMAT', 'the body must be a JSON object'), undefined);
  });
}

/** Routes whose body is never read (an action named by its path): any body is accepted and left. */
export function ignoreBodies(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));
}
