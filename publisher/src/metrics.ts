/**
 * The publisher's Prometheus metrics, served on METRICS_IP:METRICS_PORT/metrics. The replicator
 * and the send queue call the hooks as copies and files finish; the queue, the pool, the file index and
 * the origin's counts are read when Prometheus scrapes.
 */
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import { METRICS_PREFIX as P, createMetricsRegistry } from '../../shared/src/metrics.js';
import type { OriginStats } from './http/routes/origin.js';
import type { ReplicatorDeps } from './upload/replicator.js';

export interface PublisherMetricsDeps {
  /** Files waiting or being sent. */
  queueDepth(): number;
  /** Boxes with an open socket that did the PUBLISH handshake. */
  boxesConnected(): number;
  /** Files the publisher knows (sent or seen, TTL not passed). */
  filesKnown(): number;
  /** What the origin served; undefined until the web server runs. */
  origin(): OriginStats | undefined;
}

export type ReplicatorHooks = Pick<ReplicatorDeps, 'onSent' | 'onCopyConfirmed' | 'onCopyFailed'>;

export interface PublisherMetrics {
  registry: Registry;
  /** For the Replicator: every copy as it is answered. */
  replicator: ReplicatorHooks;
  /** A file from the queue finished: on REPLICAS boxes (`complete`), or on fewer after every try. */
  delivered(complete: boolean): void;
}

export function createPublisherMetrics(deps: PublisherMetricsDeps): PublisherMetrics {
  const registry = createMetricsRegistry();
  const registers = [registry];
  const counters = deliveryCounters(registers);
  readAtScrape(deps, registers);
  return {
    registry,
    replicator: {
      onSent: (_boxId, bytes) => counters.sentBytes.inc(bytes),
      onCopyConfirmed: () => counters.confirmed.inc(),
      onCopyFailed: (_boxId, code) => counters.failed.inc({ code }),
    },
    delivered: (complete) => (complete ? counters.delivered : counters.incomplete).inc(),
  };
}

/** What the replicator and the send queue count as copies and files finish. */
function deliveryCounters(registers: Registry[]) {
  return {
    delivered: new Counter({ name: `${P}files_delivered_total`, help: 'Files confirmed by REPLICAS boxes.', registers }),
    incomplete: new Counter({ name: `${P}files_incomplete_total`, help: 'Files that ended on fewer than REPLICAS boxes after every try.', registers }),
    confirmed: new Counter({ name: `${P}copies_confirmed_total`, help: 'Copies of files a box confirmed (size and SHA-256 as sent).', registers }),
    failed: new Counter({
      name: `${P}copies_failed_total`,
      help: 'Copies of files that failed (failed transfers), by code: the box\'s ERROR_CODE, E_MISMATCH (other bytes confirmed), E_NO_URL, E_SEND (socket lost or no reply in SEND_TIMEOUT).',
      labelNames: ['code'] as const,
      registers,
    }),
    sentBytes: new Counter({ name: `${P}sent_bytes_total`, help: 'Bytes of files sent to boxes that the box answered (confirmed or refused).', registers }),
  };
}

/** What the publisher's parts know right now, read when Prometheus scrapes. */
function readAtScrape(deps: PublisherMetricsDeps, registers: Registry[]): void {
  gauge(registers, 'queue_depth', 'Files waiting to be sent to boxes or being sent.', deps.queueDepth);
  gauge(registers, 'boxes_connected', 'Boxes the publisher has a ready socket to.', deps.boxesConnected);
  gauge(registers, 'files_known', 'Files the publisher knows (seen or sent, TTL not passed).', deps.filesKnown);
  // Running totals kept by the web server: counters, so rate() handles the reset at a restart.
  total(registers, 'origin_served_bytes_total', 'Bytes the publisher\'s origin (/origin/) served to viewers since it started.', () => deps.origin()?.bytes ?? 0);
  total(registers, 'origin_requests_total', 'Requests the publisher\'s origin (/origin/) served since it started.', () => deps.origin()?.requests ?? 0);
}

function gauge(registers: Registry[], name: string, help: string, read: () => number): void {
  new Gauge({
    name: `${P}${name}`,
    help,
    registers,
    collect() {
      this.set(read());
    },
  });
}

function total(registers: Registry[], name: string, help: string, read: () => number): void {
  new Counter({
    name: `${P}${name}`,
    help,
    registers,
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}
