/**
 * The publisher's Prometheus metrics, served on PUBLISHER_HTTP_IP:METRICS_PORT/metrics. The replicator
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

  new Gauge({
    name: `${P}queue_depth`,
    help: 'Files waiting to be sent to boxes or being sent.',
    registers,
    collect() {
      this.set(deps.queueDepth());
    },
  });
  const delivered = new Counter({ name: `${P}files_delivered_total`, help: 'Files confirmed by REPLICAS boxes.', registers });
  const incomplete = new Counter({ name: `${P}files_incomplete_total`, help: 'Files that ended on fewer than REPLICAS boxes after every try.', registers });
  const confirmed = new Counter({ name: `${P}copies_confirmed_total`, help: 'Copies of files a box confirmed (size and SHA-256 as sent).', registers });
  const failed = new Counter({
    name: `${P}copies_failed_total`,
    help: 'Copies of files that failed (failed transfers), by code: the box\'s ERROR_CODE, E_MISMATCH (other bytes confirmed), E_NO_URL, E_SEND (socket lost or no reply in SEND_TIMEOUT).',
    labelNames: ['code'] as const,
    registers,
  });
  const sentBytes = new Counter({ name: `${P}sent_bytes_total`, help: 'Bytes of files sent to boxes that the box answered (confirmed or refused).', registers });
  new Gauge({
    name: `${P}boxes_connected`,
    help: 'Boxes the publisher has a ready socket to.',
    registers,
    collect() {
      this.set(deps.boxesConnected());
    },
  });
  new Counter({
    name: `${P}origin_served_bytes_total`,
    help: 'Bytes the publisher\'s origin (/origin/) served to viewers since it started.',
    registers,
    collect() {
      // A running total kept by the web server: a counter, so rate() handles the reset at a restart.
      this.reset();
      this.inc(deps.origin()?.bytes ?? 0);
    },
  });
  new Counter({
    name: `${P}origin_requests_total`,
    help: 'Requests the publisher\'s origin (/origin/) served since it started.',
    registers,
    collect() {
      this.reset();
      this.inc(deps.origin()?.requests ?? 0);
    },
  });
  new Gauge({
    name: `${P}files_known`,
    help: 'Files the publisher knows (seen or sent, TTL not passed).',
    registers,
    collect() {
      this.set(deps.filesKnown());
    },
  });

  return {
    registry,
    replicator: {
      onSent: (_boxId, bytes) => sentBytes.inc(bytes),
      onCopyConfirmed: () => confirmed.inc(),
      onCopyFailed: (_boxId, code) => failed.inc({ code }),
    },
    delivered: (complete) => (complete ? delivered : incomplete).inc(),
  };
}
