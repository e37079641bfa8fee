/**
 * /dashboard/static/<name>: the files the page loads, by name. Its own (every script module and style
 * sheet in public/, listed once at start), and map data and a decoder that npm packages ship. A request
 * names one file of that list, never a path: nothing else under public/ or beside it is reachable, which
 * is why this is a table and not a static-directory server.
 */
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { notFound } from '../../../../shared/src/http-app.js';

const REPO_ROOT = fileURLToPath(new URL('../../../../../', import.meta.url));
export const PUBLIC_DIR = path.join(REPO_ROOT, 'entrance', 'src', 'dashboard', 'public');

interface StaticFile {
  file: string;
  type: string;
}

const JS = 'text/javascript; charset=utf-8';

function ownStaticFiles(): Array<[string, StaticFile]> {
  return readdirSync(PUBLIC_DIR)
    .filter((name) => /^[a-z0-9-]+\.(js|css)$/.test(name))
    .map((name) => [name, { file: path.join(PUBLIC_DIR, name), type: name.endsWith('.js') ? JS : 'text/css; charset=utf-8' }]);
}

const STATIC_FILES: ReadonlyMap<string, StaticFile> = new Map([
  ...ownStaticFiles(),
  ['countries-110m.json', { file: path.join(REPO_ROOT, 'node_modules', 'world-atlas', 'countries-110m.json'), type: 'application/json' }],
  ['topojson-client.min.js', { file: path.join(REPO_ROOT, 'node_modules', 'topojson-client', 'dist', 'topojson-client.min.js'), type: JS }],
]);

export async function staticFiles(app: FastifyInstance): Promise<void> {
  app.get<{ Params: { name: string } }>('/dashboard/static/:name', { exposeHeadRoute: false }, async (request, reply) => {
    const entry = STATIC_FILES.get(request.params.name);
    const body = entry && (await readFile(entry.file).catch(() => undefined));
    if (!entry || !body) throw notFound();
    // no-cache: the browser keeps the file but asks again, so a new version is seen at once.
    return reply.type(entry.type).header('cache-control', 'no-cache').send(body);
  });
  // Any other method, and any deeper path: not found, as any name not in the list.
  app.all('/dashboard/static/*', async () => {
    throw notFound();
  });
}
