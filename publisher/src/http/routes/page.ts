/**
 * The viewer page and the two scripts it loads:
 *   GET /                      the page (?src=<path>.m3u8 names the stream); never cached
 *   GET /static/viewer.js      its player (public/viewer.js); never cached, as it changes with the page
 *   GET /static/sha256.js      the SHA-256 the player checks box copies with where crypto.subtle is missing
 *   GET /static/hls.min.js     hls.js from npm, served by the publisher itself (no CDN); a day
 * Each script is read from disk once, on its first request, and kept.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { viewerPage } from '../viewer-page.js';

// Scripts are read from the source tree (tsc compiles only .ts): build/publisher/src/http/routes/ → the checkout.
const REPO_ROOT = fileURLToPath(new URL('../../../../../', import.meta.url));

const SCRIPTS: ReadonlyArray<{ name: string; file: string; cacheControl: string }> = [
  { name: 'viewer.js', file: path.join(REPO_ROOT, 'publisher', 'src', 'http', 'public', 'viewer.js'), cacheControl: 'no-cache' },
  { name: 'sha256.js', file: path.join(REPO_ROOT, 'publisher', 'src', 'http', 'public', 'sha256.js'), cacheControl: 'no-cache' },
  { name: 'hls.min.js', file: path.join(path.dirname(createRequire(import.meta.url).resolve('hls.js')), 'hls.min.js'), cacheControl: 'public, max-age=86400' },
];

export function pageRoutes(app: FastifyInstance, deps: { publisherId: string }): void {
  const page = viewerPage(deps.publisherId);
  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(page));

  for (const script of SCRIPTS) {
    let content: Buffer | undefined;
    app.get(`/static/${script.name}`, async (_request, reply) => {
      content ??= await readFile(script.file);
      return reply.type('text/javascript; charset=utf-8').header('cache-control', script.cacheControl).send(content);
    });
  }
}
