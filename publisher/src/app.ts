/**
 * The publisher, built from its parts without signal handling: SEARCH against the entrances, the pool
 * of box sockets, replication, the sending queue and its three sources (Redis list, watched folder,
 * push), and the web server for viewers. main.ts adds config, signals and exit codes.
 */
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import type { Redis } from 'ioredis';
import type { PublisherConfig } from '../../shared/src/config/schemas.js';
import type { Logger } from '../../shared/src/log.js';
import { connectHostFor, hostPort, isWildcardAddress } from '../../shared/src/bind-address.js';
import { MAX_HEADER_BYTES, messageOf } from '../../shared/src/protocol/index.js';
import type { PublishRequest } from '../../shared/src/protocol/index.js';
import { startMetricsServer } from '../../shared/src/metrics.js';
import type { MetricsServer } from '../../shared/src/metrics.js';
import { publisherKeys } from '../../shared/src/redis-keys.js';
import { keyLayoutOfClient } from '../../shared/src/redis.js';
import { Auditor } from './audit/auditor.js';
import { QuarantinedBoxes } from './audit/quarantined-boxes.js';
import { CurrentGrant } from './boxes/current-grant.js';
import { BoxPool } from './boxes/pool.js';
import { SearchLoop } from './boxes/search.js';
import { SearchRequests } from './boxes/search-request.js';
import { createWebServer } from './http/server.js';
import type { WebServer } from './http/server.js';
import { Viewers, openGeoDatabase } from './http/viewers.js';
import { loadViewerTls } from './http/viewer-tls.js';
import { createPublisherMetrics } from './metrics.js';
import { publisherCredentials } from './identity.js';
import type { ReplicatorHooks } from './metrics.js';
import { FileIndex } from './upload/file-index.js';
import { Replicator } from './upload/replicator.js';
import { RedisQueueReader, SendQueue, taskFor } from './upload/send-queue.js';
import { watchFolder } from './upload/watcher.js';
import type { FolderWatch } from './upload/watcher.js';

/** Boxes take files up to 50 MiB by default (MAX_FILE_MB); larger frames are refused before sending. */
const MAX_FRAME_BYTES = 1024 * 1024 * 1024;
const PRUNE_INTERVAL_MS = 10_000;

export interface PublisherDeps {
  config: PublisherConfig;
  redis: Redis;
  publisherId: string;
  log: Logger;
  /** Bytes the origin served so far (the running publisher's web server), reported with SEARCH. */
  originBytes?: () => number;
  /** Told of every copy as the box answers it (metrics). */
  replicatorHooks?: ReplicatorHooks;
  /** A confirmed copy is listed to viewers from now on (audits sample these). */
  onCopyListed?(boxId: string, filePath: string): void;
}

export interface PublisherParts {
  pool: BoxPool;
  index: FileIndex;
  replicator: Replicator;
  search: SearchLoop;
  quarantined: QuarantinedBoxes;
}

/** The parts every publisher command needs: finding boxes and sending to them. */
export function createPublisherCore(deps: PublisherDeps): PublisherParts {
  const { config, redis, publisherId, log } = deps;
  const keys = publisherKeys(publisherId, keyLayoutOfClient(redis));
  // What the entrance is told (geolocation, the dashboard): an address of this machine others can see, not loopback.
  const ip = isWildcardAddress(config.PUBLISHER_HTTP_IP) ? firstAddress() : config.PUBLISHER_HTTP_IP;
  const grant = new CurrentGrant(() => pool.renewGrant());
  const hello = (): PublishRequest => {
    const msg: PublishRequest = { ID: publisherId, IP: ip, TYPE: 'PUBLISHER', COMMAND: 'PUBLISH' };
    if (grant.value !== undefined) msg.GRANT = grant.value;
    return msg;
  };
  const index = new FileIndex(redis, keys);
  const quarantined = new QuarantinedBoxes();
  const pool = new BoxPool({
    isQuarantined: (boxId) => quarantined.has(boxId),
    redis, keys, hello, minPeers: config.MIN_HTTP_PEERS, sendTimeoutMs: config.SEND_TIMEOUT * 1000, maxFrameBytes: MAX_FRAME_BYTES + MAX_HEADER_BYTES,
    log: log.child({ mod: 'boxes' }),
    onBoxLost: (boxId) => {
      // Viewers must not be pointed at a box that went away; look for replacements now.
      void index.dropBox(boxId).catch((err: unknown) => log.warn({ err }, 'could not forget a lost box'));
      search.searchNow();
    },
  });
  const requests = new SearchRequests({
    publisherId, ip, geoip: config.GEOIP, quarantined, ...(deps.originBytes ? { originBytes: deps.originBytes } : {}),
  });
  const search: SearchLoop = new SearchLoop({
    entranceUrls: config.ENTRANCE_URLS,
    periodMs: config.PUBLISHER_PING_ENTRANCE_FREQ * 1000,
    request: () => requests.next(),
    onBoxes: (boxSet) => {
      requests.answered();
      return pool.update(boxSet);
    },
    onGrant: (fresh) => grant.take(fresh),
    credentials: publisherCredentials(config, publisherId, log.child({ mod: 'enrolment' })),
    log: log.child({ mod: 'search' }),
  });
  const replicator = new Replicator({
    pool, index, publisherId, replicas: config.REPLICAS, log: log.child({ mod: 'replicate' }), ...deps.replicatorHooks,
    ...(deps.onCopyListed ? { onCopyListed: deps.onCopyListed } : {}),
  });
  return { pool, index, replicator, search, quarantined };
}

/**
 * A box an audit caught serving other bytes: out of the pool and every listing at once (playlists and
 * /r/ stop naming it), and the next SEARCH, asked for now, tells the entrance.
 */
function quarantineBox(parts: PublisherParts, log: Logger, boxId: string, reason: string, path: string): void {
  if (!parts.quarantined.add(boxId, reason, path)) return;
  log.warn({ box: boxId, file: path, reason }, 'box quarantined');
  parts.pool.drop(boxId);
  void parts.index.dropBox(boxId).catch((err: unknown) => log.warn({ err }, 'could not forget a quarantined box'));
  parts.search.searchNow();
}

export interface Publisher extends PublisherParts {
  queue: SendQueue;
  auditor: Auditor;
  web: WebServer;
  start(): Promise<{ httpPort: number; viewerUrl: string; metricsPort: number | undefined }>;
  stop(): Promise<void>;
}

// One closure over 60 lines on purpose: start() and stop() share the running parts (web server, watcher,
// metrics server), which exist only between the two.
export function createPublisher(deps: PublisherDeps): Publisher {
  const { config, redis, publisherId, log } = deps;
  let web: WebServer | undefined;
  // Its gauges are read at scrape time only, once the parts below exist.
  const metrics = createPublisherMetrics({
    queueDepth: () => queue.depth,
    boxesConnected: () => pool.ready().length,
    filesKnown: () => index.size,
    origin: () => web?.origin,
  });
  const parts = createPublisherCore({
    ...deps, originBytes: () => web?.origin.bytes ?? 0, replicatorHooks: metrics.replicator,
    onCopyListed: (boxId, filePath) => auditor.sample(boxId, filePath),
  });
  const { pool, index, replicator, search } = parts;
  const auditor = new Auditor({
    index, rate: config.AUDIT_RATE, log: log.child({ mod: 'audit' }),
    onMismatch: (boxId, reason, path) => quarantineBox(parts, log, boxId, reason, path),
  });
  const queue = new SendQueue({
    replicator, watchDirectory: config.PUBLISHER_WATCH_DIRECTORY, defaultTtlSeconds: config.FILE_TTL, log: log.child({ mod: 'queue' }),
    onDelivered: (_task, delivery) => metrics.delivered(delivery.confirmed.length >= config.REPLICAS),
  });
  const reader = new RedisQueueReader({
    redis, keys: publisherKeys(publisherId, keyLayoutOfClient(redis)), queue, watchDirectory: config.PUBLISHER_WATCH_DIRECTORY, defaultTtlSeconds: config.FILE_TTL, log: log.child({ mod: 'queue' }),
    hasBoxes: () => pool.ready().length > 0,
  });
  let metricsServer: MetricsServer | undefined;
  let watcher: FolderWatch | undefined;
  let stopPruning: (() => void) | undefined;

  return {
    ...parts,
    queue,
    auditor,
    get web(): WebServer {
      if (!web) throw new Error('the publisher has not started');
      return web;
    },
    async start() {
      await mkdir(config.PUBLISHER_WATCH_DIRECTORY, { recursive: true });
      web = await createViewerWeb(deps, parts, auditor);
      const httpPort = await web.listen(config.PUBLISHER_HTTP_IP, config.PUBLISHER_HTTP_PORT);
      if (config.METRICS_PORT > 0) {
        metricsServer = await startMetricsServer({ registry: metrics.registry, host: config.METRICS_IP, port: config.METRICS_PORT, log: log.child({ mod: 'metrics' }) });
      }
      search.start();
      reader.start();
      watcher = watchFolderForSending(config, index, queue, log);
      await watcher.ready;
      stopPruning = pruneEvery(index, PRUNE_INTERVAL_MS);
      const viewerUrl = `${web.secure ? 'https' : 'http'}://${hostPort(connectHostFor(config.PUBLISHER_HTTP_IP), httpPort)}/`;
      log.info({ id: publisherId, viewer: viewerUrl, watch: config.PUBLISHER_WATCH_DIRECTORY, metricsPort: metricsServer?.port }, 'publisher started');
      return { httpPort, viewerUrl, metricsPort: metricsServer?.port };
    },
    async stop() {
      await metricsServer?.stop();
      stopPruning?.();
      await watcher?.stop();
      await reader.stop();
      await search.stop();
      auditor.stop();
      pool.stop();
      await web?.stop();
    },
  };
}

/** The web server for viewers, its box order drawn from the pool (place and score) and GEOIP_DATABASE. */
async function createViewerWeb(deps: PublisherDeps, parts: PublisherParts, auditor: Auditor): Promise<WebServer> {
  const { config, log } = deps;
  const { pool, index } = parts;
  const tls = loadViewerTls(config); // a ConfigError here names the key: exit 2
  const viewers = new Viewers({
    locate: await openGeoDatabase(config.GEOIP_DATABASE),
    placeOfBox: (boxId) => pool.get(boxId)?.exchange.GEOIP?.LOC,
    scoreOfBox: (boxId) => pool.score(boxId),
  });
  return createWebServer({
    publisherId: deps.publisherId, watchDirectory: config.PUBLISHER_WATCH_DIRECTORY, index, viewers, replicasWanted: config.REPLICAS,
    holdBackMs: config.HOLD_BACK * 1000, log: log.child({ mod: 'web' }), boxCount: () => pool.ready().length,
    auditBox: (boxId, path) => void auditor.audit(boxId, path),
    httpsBaseOf: (boxId) => pool.get(boxId)?.httpsUrl,
    ...(tls ? { tls } : {}),
  });
}

/** Every finished file of the watched folder goes to the send queue, and its hold-back clock starts. */
function watchFolderForSending(config: PublisherConfig, index: FileIndex, queue: SendQueue, log: Logger): FolderWatch {
  return watchFolder({
    directory: config.PUBLISHER_WATCH_DIRECTORY,
    onFile: (file) => {
      try {
        const task = taskFor(file, config.FILE_TTL, config.PUBLISHER_WATCH_DIRECTORY);
        index.seen(task.filePath, task.ttlSeconds); // the hold-back clock starts when the file appears
        queue.enqueue(task);
      } catch (err) {
        log.warn({ file, err: messageOf(err) }, 'file in the watched folder not sent');
      }
    },
    log: log.child({ mod: 'watch' }),
  });
}

/** Forget files whose TTL passed, now and every `intervalMs` (one pass at a time); returns the stop. */
function pruneEvery(index: FileIndex, intervalMs: number): () => void {
  let timer: NodeJS.Timeout | undefined;
  const prune = (): void => {
    index.prune();
    timer = setTimeout(prune, intervalMs);
    timer.unref();
  };
  prune();
  return () => clearTimeout(timer);
}

function firstAddress(): string {
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}
