/**
 * The box agent's Prometheus metrics, served on BOX_SERVER_IP:METRICS_PORT/metrics. Ingest calls the
 * hooks as files arrive; what lives elsewhere (files held and due in Redis, the access-log tail, the
 * viewer budget, the entrance links) is read when Prometheus scrapes.
 */
import type { Redis } from 'ioredis';
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import { METRICS_PREFIX as P, createMetricsRegistry } from '../../shared/src/metrics.js';
import type { BoxKeys } from '../../shared/src/redis-keys.js';

export interface AgentMetricsDeps {
  redis: Redis;
  keys: BoxKeys;
  /** Files whose deadline has passed but are not deleted yet (the sweeper's backlog()). */
  expiryBacklog(): Promise<number>;
  /** Bytes nginx sent to viewers, as read from its access log by this process so far. */
  servedBytes(): number;
  /** Bytes of the access log not read yet. */
  logLagBytes(): Promise<number>;
  /** What viewers may take now, all together (Mbit/s). */
  viewerBudgetMbit(): number;
  /** Links to entrances: how many, and how many had their last EXCHANGE accepted. */
  entranceLinks(): { total: number; healthy: number };
}

export interface AgentMetrics {
  registry: Registry;
  /** A publisher's file was stored (`bytes` long). */
  stored(bytes: number): void;
  /** A publisher's file was refused with this ERROR_CODE. */
  refused(code: string): void;
}

export function createAgentMetrics(deps: AgentMetricsDeps): AgentMetrics {
  const registry = createMetricsRegistry();
  const registers = [registry];
  const receivedBytes = new Counter({ name: `${P}received_bytes_total`, help: 'Bytes of files received from publishers and stored.', registers });
  const filesStored = new Counter({ name: `${P}files_stored_total`, help: 'Files received from publishers and stored (durable and servable).', registers });
  const filesRefused = new Counter({
    name: `${P}files_refused_total`,
    help: 'Files from publishers refused (failed transfers), by ERROR_CODE (E_INTERNAL: the box itself failed).',
    labelNames: ['code'],
    registers,
  });
  for (const m of scrapedMetrics(deps)) {
    if (m.kind === 'gauge') {
      new Gauge({ name: `${P}${m.name}`, help: m.help, registers, async collect() { this.set(await m.read()); } });
    } else {
      // A running total kept elsewhere: a counter, so rate() handles the reset at a restart.
      new Counter({ name: `${P}${m.name}`, help: m.help, registers, async collect() { this.reset(); this.inc(await m.read()); } });
    }
  }
  return {
    registry,
    stored(bytes) {
      filesStored.inc();
      receivedBytes.inc(bytes);
    },
    refused: (code) => filesRefused.inc({ code }),
  };
}

interface Scraped {
  kind: 'gauge' | 'counter';
  name: string;
  help: string;
  read(): number | Promise<number>;
}

/** What is read from the other parts when Prometheus scrapes, in the order the scrape lists it. */
function scrapedMetrics(deps: AgentMetricsDeps): Scraped[] {
  return [
    { kind: 'gauge', name: 'files_held', help: 'Files this box holds for publishers (entries of {ID}:EXPIRE_FILES).', read: () => deps.redis.zcard(deps.keys.expireFiles) },
    { kind: 'gauge', name: 'expiry_backlog_files', help: 'Files past their deadline not deleted yet (the expiry sweep catches up on its next run).', read: () => deps.expiryBacklog() },
    { kind: 'counter', name: 'viewer_served_bytes_total', help: 'Bytes nginx sent to viewers (all statuses), as read from its access log since the agent started.', read: () => deps.servedBytes() },
    { kind: 'gauge', name: 'access_log_lag_bytes', help: 'Bytes of nginx\'s access log not yet turned into traffic records.', read: () => deps.logLagBytes() },
    { kind: 'gauge', name: 'viewer_budget_megabits_per_second', help: 'Upload viewers may take now, all together, in Mbit/s (nginx paces each response to a share of it).', read: () => deps.viewerBudgetMbit() },
    { kind: 'gauge', name: 'entrance_links', help: 'Entrances this box keeps a heartbeat socket to.', read: () => deps.entranceLinks().total },
    { kind: 'gauge', name: 'entrance_links_healthy', help: 'Entrances whose last EXCHANGE from this box was accepted.', read: () => deps.entranceLinks().healthy },
  ];
}
