/**
 * The read-only fleet API (docs/dashboard-api.md): the session, the summary, the box list sorted,
 * filtered and paged on the server, one box, its history, traffic series and the map.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { HttpError } from '../../../../shared/src/http-app.js';
import { isIdOf } from '../../../../shared/src/protocol/index.js';
import { numberQuery } from '../../http/query.js';
import { notFound } from '../../../../shared/src/http-app.js';
import type { BoxRegistry } from '../../registry/registry.js';
import { publishersOfBox, trafficSeries } from '../../traffic/read.js';
import type { TrafficScope } from '../../traffic/read.js';
import { MAX_PER_PAGE, SORTABLE } from '../fleet.js';
import type { BoxFilter, Fleet } from '../fleet.js';
import type { FleetSummary } from '../summary.js';
import { principalOf } from './api-guard.js';

export interface FleetApiDeps {
  redis: Redis;
  fleet: Fleet;
  registry: BoxRegistry;
  summary(): Promise<FleetSummary>;
  now: () => number;
}

/** What the schemas below let through (query values are strings; an empty one means the default). */
type BoxesQuery = { sort?: string; order?: 'asc' | 'desc' | ''; state?: BoxFilter | ''; q?: string; page?: string; per_page?: string };
type TrafficQuery = { scope?: TrafficScope | ''; resolution?: 'minute' | 'hour' | 'day' | ''; id?: string; from?: string; to?: string };
type HistoryQuery = { from?: string; to?: string };
type BoxParams = { id: string };

/** Empty stands for the default, as the dashboard leaves out what it does not filter on. */
const oneOf = (values: Iterable<string>) => ({ type: 'string', enum: [...values, ''] }) as const;
const BOXES_QUERY = {
  type: 'object',
  properties: { sort: oneOf(SORTABLE), order: oneOf(['asc', 'desc']), state: oneOf(['online', 'stale', 'offline', 'quarantined', 'paused']), q: { type: 'string' } },
} as const;
const TRAFFIC_QUERY = {
  type: 'object',
  properties: { scope: oneOf(['fleet', 'box', 'publisher']), resolution: oneOf(['minute', 'hour', 'day']), id: { type: 'string' } },
} as const;
/** How far back a traffic series goes by default, by resolution (seconds). */
const DEFAULT_SPAN = { minute: 3600, hour: 48 * 3600, day: 30 * 86400 } as const;

const badRequest = (message: string): HttpError => new HttpError(400, 'E_FORMAT', message);

function boxIdOf(params: BoxParams): string {
  if (!isIdOf(params.id, 'BOX')) throw new HttpError(400, 'E_ID', 'not a box ID');
  return params.id;
}

/** GET /api/boxes: the fleet table, sorted, filtered and paged on the server. */
function boxList(fleet: Fleet) {
  return async (request: FastifyRequest<{ Querystring: BoxesQuery }>) => {
    const query = request.query;
    const page = numberQuery(query, 'page', 1);
    const perPage = numberQuery(query, 'per_page', 50);
    if (!Number.isInteger(page) || page < 1) throw badRequest('page must be a whole number from 1');
    if (!Number.isInteger(perPage) || perPage < 1 || perPage > MAX_PER_PAGE) throw badRequest(`per_page must be 1-${MAX_PER_PAGE}`);
    return fleet.list({ sort: query.sort || 'ID', order: query.order || 'asc', q: (query.q ?? '').slice(0, 200), state: query.state || undefined, page, perPage });
  };
}

/** GET /api/boxes/<id>: one box's row, its last EXCHANGE and the publishers it served. */
function boxPage(deps: FleetApiDeps) {
  return async (request: FastifyRequest<{ Params: BoxParams }>) => {
    const id = boxIdOf(request.params);
    const row = await deps.fleet.row(id);
    if (!row) throw notFound('no such box');
    const exchange = await deps.registry.exchangeOf(id);
    return { BOX: row, EXCHANGE: exchange ?? null, PUBLISHERS: await publishersOfBox(deps.redis, id) };
  };
}

/** GET /api/boxes/<id>/history?from&to: its readings over time (the last 6 hours by default). */
function boxHistory(deps: FleetApiDeps) {
  return async (request: FastifyRequest<{ Params: BoxParams; Querystring: HistoryQuery }>) => {
    const id = boxIdOf(request.params);
    const to = numberQuery(request.query, 'to', deps.now() / 1000);
    const from = numberQuery(request.query, 'from', to - 6 * 3600);
    if (to < from) throw badRequest('from must not be after to');
    return { POINTS: await deps.fleet.history(id, from, to) };
  };
}

/** GET /api/traffic: bytes served over time, for the fleet, one box or one publisher. */
function trafficPoints(deps: FleetApiDeps) {
  return async (request: FastifyRequest<{ Querystring: TrafficQuery }>) => {
    const query = request.query;
    const scope = query.scope || 'fleet';
    const resolution = query.resolution || 'minute';
    const to = numberQuery(query, 'to', Math.floor(deps.now() / 1000));
    const from = numberQuery(query, 'from', to - DEFAULT_SPAN[resolution]);
    const id = query.id || undefined;
    try {
      return { POINTS: await trafficSeries(deps.redis, { scope, ...(id ? { id } : {}), resolution, from, to }) };
    } catch (err) {
      if (err instanceof RangeError) throw badRequest(err.message);
      throw err;
    }
  };
}

export function fleetApi(deps: FleetApiDeps) {
  const noHead = { exposeHeadRoute: false } as const; // the API answers GET only; HEAD is refused as the other methods are
  return async (app: FastifyInstance): Promise<void> => {
    app.get('/api/session', noHead, async (request) => {
      const who = principalOf(request);
      return { USERNAME: who.username, CSRF: who.csrf ?? null };
    });
    app.get('/api/summary', noHead, () => deps.summary());
    app.get('/api/map', noHead, async () => ({ BOXES: await deps.fleet.map() }));
    app.get('/api/boxes', { ...noHead, schema: { querystring: BOXES_QUERY } }, boxList(deps.fleet));
    app.get('/api/boxes/:id', noHead, boxPage(deps));
    app.get('/api/boxes/:id/history', noHead, boxHistory(deps));
    app.get('/api/traffic', { ...noHead, schema: { querystring: TRAFFIC_QUERY } }, trafficPoints(deps));
  };
}
