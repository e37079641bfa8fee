/**
 * Prometheus metrics, done the same way by every role. Each role instance gets a Registry of its own,
 * never prom-client's global one: tests and the demo run several roles in one process, and a shared
 * registry would mix their numbers (or refuse the second role's metrics as duplicates). On it go
 * prom-client's Node process metrics, and every name starts with `dandelion_`.
 *
 * The entrance answers /metrics on its own port (entrance/src/metrics.ts adds its token check); the
 * agent and the publisher run the small server below on METRICS_PORT.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { createGuardedServer } from './http-guard.js';
import type { RequestHandler } from './http-guard.js';
import { createRouter } from './http-router.js';
import { listenOn } from './listen.js';
import type { Logger } from './log.js';
import { messageOf } from './protocol/errors.js';

/** Every metric name starts with this, the process metrics included. */
export const METRICS_PREFIX = 'dandelion_';
export const METRICS_PATH = '/metrics';

let processMetrics: Registry | undefined;

/**
 * A registry for one role instance, with the Node process metrics (CPU, memory, event loop, GC) on it.
 * Those describe the process, not the role, so they are made once per process and the same metric
 * objects are put on every role's registry: prom-client's event-loop monitor and GC observer are never
 * switched off, and one per role instance would pile up in a test process that starts dozens.
 */
export function createMetricsRegistry(): Registry {
  if (!processMetrics) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics, prefix: METRICS_PREFIX });
  }
  return Registry.merge([processMetrics]); // a new registry holding the same process metric objects
}

/**
 * Answer with the registry in the Prometheus text format. Gauges are read from Redis and the like at
 * this moment; when one of them fails the scrape answers 500 (Prometheus then marks the target down),
 * rather than serving a number that silently stopped moving.
 */
export async function sendMetrics(registry: Registry, req: IncomingMessage, res: ServerResponse, log: Logger): Promise<void> {
  let body: string;
  try {
    body = await registry.metrics();
  } catch (err) {
    log.warn({ err }, 'metrics not collected');
    res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
    res.end(`metrics not collected: ${messageOf(err)}\n`);
    return;
  }
  res.writeHead(200, { 'content-type': registry.contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : body);
}

export interface MetricsServer {
  /** The port it listens on. */
  port: number;
  stop(): Promise<void>;
}

export interface MetricsServerOptions {
  registry: Registry;
  host: string;
  /** 0 picks a free port (roles treat METRICS_PORT 0 as "no server" and never call this). */
  port: number;
  log: Logger;
}

/**
 * A server that answers GET /metrics and nothing else. Rejects with a ListenError naming METRICS_PORT
 * (or METRICS_IP) when it cannot listen.
 */
export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const { registry, log } = opts;
  const serve: RequestHandler = (req, res) => sendMetrics(registry, req, res, log);
  const server = createGuardedServer({
    log,
    onRequest: createRouter({ [METRICS_PATH]: { GET: serve, HEAD: serve } }, { notFound: { ERROR: `only ${METRICS_PATH} here`, ERROR_CODE: 'E_NOT_FOUND' } }),
  });
  const port = await listenOn(server, opts.host, opts.port, { port: 'METRICS_PORT', host: 'METRICS_IP' });
  return {
    port,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections(); // Prometheus keeps its connection open between scrapes
      await closed;
    },
  };
}
