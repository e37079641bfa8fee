/**
 * Updates over the air through the API (docs/updates.md, docs/dashboard-api.md):
 *   GET  /api/releases                          the stored releases
 *   POST /api/releases                          upload one: the body is the binary (any content type), the
 *                                               header X-Dandelion-Release its signed manifest line
 *   POST /api/releases/<version>/<arch>/remove  forget one
 *   GET  /api/rollout                           the rollout and the fleet's versions
 *   POST /api/rollout {VERSION, PERCENT | GROUP, STAGES?, STAGE_SECONDS?, HEARTBEAT_SECONDS?}   start one
 *   POST /api/rollout/pause|resume|rollback
 *   GET  /api/groups; POST /api/groups/<name>/add|remove {BOXES}   (remove without BOXES: the whole group)
 * Changes are POST only and, from a logged-in operator, need the session's CSRF token, checked before a
 * byte of an upload is read.
 */
import type { FastifyInstance } from 'fastify';
import { HttpError, notFound } from '../../../../shared/src/http-app.js';
import type { Logger } from '../../../../shared/src/log.js';
import { MAX_RELEASE_BYTES } from '../../../../shared/src/release/manifest.js';
import { refuseOtherMethods } from '../../http/refusals.js';
import { ignoreBodies } from '../../http/json-body.js';
import { ReleaseRefused } from '../../updates/release-store.js';
import type { ReleaseStore } from '../../updates/release-store.js';
import { RolloutRefused } from '../../updates/rollouts.js';
import type { Rollouts } from '../../updates/rollouts.js';
import { optionalJsonBodyAfterCsrf } from './api-enrolment.js';
import { principalOf, requireCsrf } from './api-guard.js';

export interface UpdatesApiDeps {
  releases: ReleaseStore;
  rollouts: Rollouts;
  log: Logger;
}

const RELEASES = '/api/releases';
const REMOVE = `${RELEASES}/:version/:arch/remove`;
const ROLLOUT = '/api/rollout';
const ROLLOUT_ACTION = `${ROLLOUT}/:action`;
const GROUPS = '/api/groups';
const GROUP_ACTION = `${GROUPS}/:name/:action`;
const MAX_JSON_BODY = 64 * 1024;

const START_BODY = {
  type: 'object',
  required: ['VERSION'],
  properties: {
    VERSION: { type: 'string', maxLength: 64 }, PERCENT: { type: 'integer' }, GROUP: { type: 'string', maxLength: 64 },
    STAGES: { type: 'array', items: { type: 'integer' }, maxItems: 20 }, STAGE_SECONDS: { type: 'number' }, HEARTBEAT_SECONDS: { type: 'number' },
  },
} as const;
const GROUP_BODY = { type: 'object', properties: { BOXES: { type: 'array', items: { type: 'string', maxLength: 200 }, maxItems: 10_000 } } } as const;

/** A refusal of the store or the rollout, as the 4xx the operator reads; anything else stays a 500. */
async function refusalsAs400<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof ReleaseRefused || err instanceof RolloutRefused) throw new HttpError(400, 'E_FORMAT', err.message);
    throw err;
  }
}

/** POST /api/releases: the body reaches the store as the stream it arrives as, never buffered whole. */
function upload({ releases, log }: UpdatesApiDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
    app.addHook('onRequest', requireCsrf);
    app.addHook('onRequest', async (request) => {
      // Refused before the body is read: a forged or unknown release costs its sender nothing to send.
      await refusalsAs400(async () => releases.check(request.headers['x-dandelion-release']));
      const length = Number(request.headers['content-length'] ?? 0);
      if (length > MAX_RELEASE_BYTES) throw new HttpError(413, 'E_TOO_BIG', `a release is at most ${MAX_RELEASE_BYTES} bytes`);
    });
    app.post(RELEASES, { bodyLimit: MAX_RELEASE_BYTES }, async (request, reply) => {
      const body = request.body as AsyncIterable<Buffer> | undefined;
      const stored = await refusalsAs400(() => releases.upload(request.headers['x-dandelion-release'], body ?? []));
      log.info({ user: principalOf(request).username, version: stored.VERSION, arch: stored.ARCH, size: stored.SIZE }, 'release uploaded');
      return reply.code(201).send(stored);
    });
  };
}

function actions({ releases, rollouts, log }: UpdatesApiDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    ignoreBodies(app);
    app.addHook('onRequest', requireCsrf);
    app.post<{ Params: { version: string; arch: string } }>(REMOVE, async (request) => {
      const { version, arch } = request.params;
      if (!(await releases.remove(version, arch))) throw notFound(`no release ${version} for ${arch}`);
      log.info({ user: principalOf(request).username, version, arch }, 'release removed');
      return { VERSION: version, ARCH: arch, ACTION: 'remove' };
    });
    app.post<{ Params: { action: string } }>(ROLLOUT_ACTION, async (request) => {
      const { action } = request.params;
      const who = principalOf(request).username;
      const step = action === 'pause' ? () => rollouts.pause(`paused by ${who}`)
        : action === 'resume' ? () => rollouts.resume()
          : action === 'rollback' ? () => rollouts.rollback(`rolled back by ${who}`) : undefined;
      if (step === undefined) throw notFound('a rollout is paused, resumed or rolled back');
      const rollout = await refusalsAs400(step);
      log.info({ user: who, rollout: rollout.ID, action }, 'rollout changed');
      return { ROLLOUT: rollout };
    });
  };
}

function jsonChanges({ rollouts, log }: UpdatesApiDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    optionalJsonBodyAfterCsrf(app);
    app.post<{ Body: { VERSION: string; PERCENT?: number; GROUP?: string; STAGES?: number[]; STAGE_SECONDS?: number; HEARTBEAT_SECONDS?: number } }>(
      ROLLOUT, { bodyLimit: MAX_JSON_BODY, schema: { body: START_BODY } }, async (request, reply) => {
        const b = request.body;
        const rollout = await refusalsAs400(() => rollouts.start({
          version: b.VERSION,
          ...(b.PERCENT === undefined ? {} : { percent: b.PERCENT }), ...(b.GROUP === undefined ? {} : { group: b.GROUP }),
          ...(b.STAGES === undefined ? {} : { stages: b.STAGES }), ...(b.STAGE_SECONDS === undefined ? {} : { stageSeconds: b.STAGE_SECONDS }),
          ...(b.HEARTBEAT_SECONDS === undefined ? {} : { heartbeatSeconds: b.HEARTBEAT_SECONDS }),
        }));
        log.info({ user: principalOf(request).username, rollout: rollout.ID }, 'rollout started');
        return reply.code(201).send({ ROLLOUT: rollout });
      });
    app.post<{ Params: { name: string; action: string }; Body: { BOXES?: string[] } }>(GROUP_ACTION, { bodyLimit: MAX_JSON_BODY, schema: { body: GROUP_BODY } }, async (request) => {
      const { name, action } = request.params;
      const boxes = request.body.BOXES ?? [];
      if (action !== 'add' && action !== 'remove') throw notFound('boxes are added to a group or removed from it');
      const changed = await refusalsAs400(() => (action === 'add' ? rollouts.addToGroup(name, boxes) : rollouts.removeFromGroup(name, boxes)));
      log.info({ user: principalOf(request).username, group: name, action, boxes: boxes.length }, 'group changed');
      return { GROUP: name, ACTION: action, CHANGED: changed };
    });
  };
}

export function updatesApi(deps: UpdatesApiDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get(RELEASES, { exposeHeadRoute: false }, async () => ({ RELEASES: await deps.releases.list() }));
    app.get(ROLLOUT, { exposeHeadRoute: false }, async () => deps.rollouts.status());
    app.get(GROUPS, { exposeHeadRoute: false }, async () => ({ GROUPS: await deps.rollouts.groups() }));
    await app.register(upload(deps));
    await app.register(actions(deps));
    await app.register(jsonChanges(deps));
    refuseOtherMethods(app, RELEASES, ['GET', 'POST']);
    refuseOtherMethods(app, ROLLOUT, ['GET', 'POST']);
    refuseOtherMethods(app, GROUPS, ['GET']);
    for (const url of [REMOVE, ROLLOUT_ACTION, GROUP_ACTION]) refuseOtherMethods(app, url, ['POST'], { message: 'POST only' });
  };
}
