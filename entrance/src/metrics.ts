/**
 * The entrance's Prometheus metrics, served as GET /metrics on its own port. Handlers call the small
 * hooks (`heartbeat()`, `searchTimer()`…) as things happen; figures that live in Redis (boxes online,
 * bytes the fleet served) are read when Prometheus scrapes, so several entrances sharing one Redis all
 * report the same fleet-wide numbers.
 *
 * With METRICS_TOKEN set, a scrape must carry `Authorization: Bearer <token>` whose hash that is
 * (checked by bearer.ts: slow checks bounded, passed tokens remembered; too many at once get 429).
 * Without it /metrics is closed (403, saying which key to set) unless METRICS_PUBLIC is true: it names
 * every publisher and the fleet's figures, which a stranger on the internet has no business reading.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Redis } from 'ioredis';
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import type { Logger } from '../../shared/src/log.js';
import { HttpError } from '../../shared/src/http-app.js';
import { METRICS_PREFIX as P, createMetricsRegistry } from '../../shared/src/metrics.js';
import { createBearerCheck } from './bearer.js';
import type { BoxRegistry } from './registry/registry.js';
import { MAX_LABEL_VALUES, boundedLabels } from './metric-labels.js';
import type { FoldResult } from './traffic/fold.js';
import type { KnownPublisherCheck } from './traffic/known-publishers.js';
import { NO_PUBLISHER, implausibleBoxes, trafficPublishers, trafficTotals, unknownPublisherBytes } from './traffic/read.js';

/** SEARCH is a few Redis reads: milliseconds, rarely more than a second. */
const SEARCH_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
/** What became of an aggregate (a FoldResult field) and the `result` label it is counted under. */
const FOLD_RESULTS: ReadonlyArray<readonly [keyof FoldResult, string]> = [
  ['counted', 'counted'],
  ['implausible', 'implausible'],
  ['unknownPublisher', 'unknown_publisher'],
  ['duplicates', 'duplicates'],
  ['stale', 'stale'],
  ['future', 'future'],
];

export interface EntranceMetricsDeps {
  redis: Redis;
  boxes: BoxRegistry;
  /** Whether a publisher gets a series of its own (known-publishers.ts). */
  isKnownPublisher: KnownPublisherCheck;
  /** WebSocket connections open now (boxes and publishers). */
  openSockets(): number;
  /** METRICS_TOKEN: the hash of the bearer token /metrics asks for. */
  tokenHash: string | undefined;
  /** METRICS_PUBLIC: without a token, serve /metrics to anyone (false: closed). */
  open: boolean;
  log: Logger;
  now?: () => number;
}

export interface EntranceMetrics {
  registry: Registry;
  /** An EXCHANGE was accepted. */
  heartbeat(): void;
  /** A SEARCH starts; call the result when it has been answered (or failed). */
  searchTimer(): () => void;
  /** A message was answered with ERROR and this ERROR_CODE. */
  refused(code: string): void;
  /** An EXCHANGE's TRAFFIC_AGGREGATES were folded. */
  folded(result: FoldResult): void;
  /** Refuse a scrape that may not read the metrics (closed, no or a wrong token, too many checks at once); http/metrics-routes.ts serves the rest. */
  authorize(req: { headers: IncomingHttpHeaders }): Promise<void>;
}

export function createEntranceMetrics(deps: EntranceMetricsDeps): EntranceMetrics {
  const registry = createMetricsRegistry();
  const registers = [registry];
  fleetGauges(registers, deps);
  trafficBreakdownGauges(registers, deps);
  const { heartbeats, searches, searchSeconds, rejected, aggregates } = messageCounters(registers);

  const checkToken = deps.tokenHash === undefined ? undefined : createBearerCheck([deps.tokenHash], deps.now ?? Date.now);
  const closed = checkToken === undefined && !deps.open;

  return {
    registry,
    heartbeat: () => heartbeats.inc(),
    searchTimer() {
      const done = searchSeconds.startTimer();
      return () => {
        done();
        searches.inc();
      };
    },
    refused: (code) => rejected.inc({ code }),
    folded(result) {
      for (const [field, label] of FOLD_RESULTS) {
        if (result[field] > 0) aggregates.inc({ result: label }, result[field]);
      }
    },
    async authorize(req) {
      if (closed) {
        throw new HttpError(
          403,
          'E_FORBIDDEN',
          '/metrics is closed: set METRICS_TOKEN (a hash from `dandelion hash-password`) and scrape with "Authorization: Bearer <token>", or set METRICS_PUBLIC: true to open it to anyone',
        );
      }
      const verdict = checkToken ? await checkToken(req) : 'ok';
      if (verdict === 'busy') throw new HttpError(429, 'E_BUSY', 'too many token checks at once; try again', { 'retry-after': '1' });
      if (verdict === 'refused') {
        throw new HttpError(401, 'E_AUTH', 'send "Authorization: Bearer <token>" with the token whose hash is METRICS_TOKEN', { 'www-authenticate': 'Bearer realm="dandelion metrics"' });
      }
    },
  };
}

/** Figures read when Prometheus scrapes: from Redis (the same on every entrance sharing it) and this entrance's sockets. */
function fleetGauges(registers: Registry[], deps: EntranceMetricsDeps): void {
  const { redis, boxes } = deps;
  new Gauge({
    name: `${P}boxes_online`,
    help: 'Boxes in the registry whose last EXCHANGE is recent enough (ENTRANCE_EXPIRE_BOX_TIME).',
    registers,
    async collect() {
      this.set(await boxes.countOnline());
    },
  });
  new Gauge({
    name: `${P}boxes_paused`,
    help: 'Online boxes their household paused, by reason: quota (the monthly upload quota is used up) or quiet-hours. SEARCH lists none of them.',
    labelNames: ['reason'] as const,
    registers,
    async collect() {
      for (const [reason, n] of Object.entries(await boxes.countPaused())) this.set({ reason }, n);
    },
  });
  new Gauge({
    name: `${P}websocket_connections`,
    help: 'WebSocket connections from boxes and publishers open on this entrance.',
    registers,
    collect() {
      this.set(deps.openSockets());
    },
  });
  new Gauge({
    name: `${P}fleet_served_bytes`,
    help: 'Bytes all boxes served to viewers, all time, as counted from their traffic aggregates (shared by every entrance on this Redis).',
    registers,
    async collect() {
      this.set((await trafficTotals(redis)).bytes);
    },
  });
  new Gauge({
    name: `${P}fleet_served_requests`,
    help: 'Viewer requests all boxes served, all time, as counted from their traffic aggregates.',
    registers,
    async collect() {
      this.set((await trafficTotals(redis)).requests);
    },
  });
}

/** Who the served bytes were counted for, in bounded label sets, and what was not believed (not counted). */
function trafficBreakdownGauges(registers: Registry[], deps: EntranceMetricsDeps): void {
  const { redis } = deps;
  new Gauge({
    name: `${P}publisher_served_bytes`,
    help: `Bytes of each known publisher's files that boxes served to viewers, all time (publisher "-": requests that named no publisher; "other": the smallest beyond ${MAX_LABEL_VALUES} series, and publishers no longer known).`,
    labelNames: ['publisher'] as const,
    registers,
    async collect() {
      const rows = await trafficPublishers(redis);
      const known = await Promise.all(rows.map(({ publisher }) => publisher === NO_PUBLISHER || deps.isKnownPublisher(publisher)));
      let other = 0;
      const labelled: Array<[string, number]> = [];
      rows.forEach(({ publisher, bytes }, i) => (known[i] ? labelled.push([publisher, bytes]) : (other += bytes)));
      this.reset();
      for (const [publisher, bytes] of boundedLabels(labelled, other)) this.set({ publisher }, bytes);
    },
  });
  new Gauge({
    name: `${P}box_implausible_bytes`,
    help: `Bytes each box reported beyond what its measured upload could carry, all time: not counted as served (box "other": the smallest beyond ${MAX_LABEL_VALUES} series).`,
    labelNames: ['box'] as const,
    registers,
    async collect() {
      const rows = await implausibleBoxes(redis);
      this.reset();
      for (const [box, bytes] of boundedLabels(rows.map(({ box, bytes }) => [box, bytes]))) this.set({ box }, bytes);
    },
  });
  new Gauge({
    name: `${P}unknown_publisher_bytes`,
    help: 'Bytes boxes reported for publishers the entrance does not know, all time: not counted as served (redeliveries included).',
    registers,
    async collect() {
      this.set(await unknownPublisherBytes(redis));
    },
  });
}

/** What the handlers count as messages are answered. */
function messageCounters(registers: Registry[]) {
  const heartbeats = new Counter({ name: `${P}heartbeats_total`, help: 'EXCHANGE heartbeats from boxes accepted by this entrance.', registers });
  const searches = new Counter({ name: `${P}searches_total`, help: 'SEARCH requests from publishers answered by this entrance.', registers });
  const searchSeconds = new Histogram({
    name: `${P}search_duration_seconds`,
    help: 'Time this entrance took to answer a SEARCH, in seconds.',
    buckets: SEARCH_BUCKETS_SECONDS,
    registers,
  });
  const rejected = new Counter({
    name: `${P}rejected_messages_total`,
    help: 'Messages this entrance answered with ERROR, by ERROR_CODE (E_INTERNAL: the entrance itself failed).',
    labelNames: ['code'] as const,
    registers,
  });
  const aggregates = new Counter({
    name: `${P}traffic_aggregates_total`,
    help: 'Traffic aggregates boxes sent, by what became of them: counted, implausible (beyond what the box\'s measured upload could carry: counted only up to it), unknown_publisher (for a publisher the entrance does not know: not counted), duplicates (counted before), stale or future (outside the kept window, not counted).',
    labelNames: ['result'] as const,
    registers,
  });
  for (const [, result] of FOLD_RESULTS) aggregates.inc({ result }, 0); // every result shows, at 0 until it happens
  return { heartbeats, searches, searchSeconds, rejected, aggregates };
}
