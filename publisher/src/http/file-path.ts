/**
 * The routes whose URL ends in a file of the watched folder (/origin/, /hls/, /files/, /r/), and the one
 * check of that file's name: fastify has percent-decoded it once (a name that does not decode is a 404
 * before any route runs, createHttpApp's undecodablePath); normaliseFilePath refuses whatever could
 * name something else ('..', '.', empty segments, backslashes, control characters).
 */
import type { FastifyRequest } from 'fastify';
import { isProtocolError, normaliseFilePath } from '../../../shared/src/protocol/index.js';
import { notFound } from '../../../shared/src/http-app.js';

/** A route such as `/origin/*`: the rest of the path names the file. */
export interface FileRoute {
  Params: { '*': string };
}

/** The watched-folder path the rest of the URL names; a 404 when it could name anything else. */
export function filePathOf(request: FastifyRequest<FileRoute>): string {
  try {
    return normaliseFilePath(request.params['*']);
  } catch (err) {
    if (isProtocolError(err)) throw notFound();
    throw err;
  }
}
