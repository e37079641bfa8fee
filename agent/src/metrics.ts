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
    labelNames: ['code'] as const,
    registers,
  });
  new Gauge({
    name: `${P}files_held`,
    help: 'Files this box holds for publishers (entries of {ID}:EXPIRE_FILES).',
    registers,
    async collect() {
      this.set(await deps.redis.zcard(deps.keys.expireFiles));
    },
  });
  new Gauge({
    name: `${P}expiry_backlog_files`,
    help: 'Files past their deadline not deleted yet (the expiry sweep catches up on its next run).',
    registers,
    async collect() {
      this.set(await deps.expiryBacklog());
    },
  });
  new Counter({
    name: `${P}viewer_served_bytes_total`,
    help: 'Bytes nginx sent to viewers (all statuses), as read from its access log since the agent started.',
    registers,
    collect() {
      // A running total kept by the tail: a counter, so rate() handles the reset at a restart.
      this.reset();
      this.inc(deps.servedBytes());
    },
  });
  new Gauge({
    name: `${P}access_log_lag_bytes`,
    help: 'Bytes of nginx\'s access log not yet turned into traffic records.',
    registers,
    async collect() {
      this.set(await deps.logLagBytes());
    },
  });
  new Gauge({
    name: `${P}viewer_budget_megabits_per_second`,
    help: 'Upload viewers may take now, all together, in Mbit/s (nginx paces each response to a share of it).',
    registers,
    collect() {
      this.set(deps.viewerBudgetMbit());
    },
  });
  new Gauge({
    name: `${P}entrance_links`,
    help: 'Entrances this box keeps a heartbeat socket to.',
    registers,
    collect() {
      this.set(deps.entranceLinks().total);
    },
  });
  new Gauge({
    name: `${P}entrance_links_healthy`,
    help: 'Entrances whose last EXCHANGE from this box was accepted.',
    registers,
    collect() {
      this.set(deps.entranceLinks().healthy);
    },
  });

  return {
    registry,
    stored(bytes) {
      filesStored.inc();
      receivedBytes.inc(bytes);
    },
    refused: (code) => filesRefused.inc({ code }),
  };
}
