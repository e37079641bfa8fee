/**
 * The box agent, built from its parts without signal handling, so tests run a whole agent in-process:
 * the publishers' socket (ingest), nginx serving the files, the expiry sweep, the access-log tail, the
 * readings and bandwidth figures, and one link per entrance. main.ts adds config, signals, exit codes.
 */
import { mkdir } from 'node:fs/promises';
import { freePort } from '../../shared/src/listen.js';
import { connectHostFor, hostPort } from '../../shared/src/bind-address.js';
import { boxHttpUrl } from '../../shared/src/viewer-url.js';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import cron from 'node-cron';
import type { ScheduledTask } from 'node-cron';
import type { AgentConfig } from '../../shared/src/config/schemas.js';
import type { Logger } from '../../shared/src/log.js';
import { startMetricsServer } from '../../shared/src/metrics.js';
import type { MetricsServer } from '../../shared/src/metrics.js';
import { toHash } from '../../shared/src/protocol/index.js';
import type { BoxExchange, Envelope, ExchangeReply } from '../../shared/src/protocol/index.js';
import { boxKeys } from '../../shared/src/redis-keys.js';
import { buildInfo } from '../../shared/src/version.js';
import { changedMaterially, householdUploadMbit, idleUploadMbit, MIN_RELOAD_INTERVAL_MS, perConnectionRate, viewerBudgetMbit } from './bandwidth/policy.js';
import type { UsageSample, ViewerPolicy } from './bandwidth/policy.js';
import { SpeedTestError, measureCapacity } from './bandwidth/speed-test.js';
import { createExpirySweeper } from './expiry/sweeper.js';
import { EntranceLink } from './heartbeat/entrance-link.js';
import { PathLocks } from './ingest/path-locks.js';
import { createIngestServer } from './ingest/server.js';
import { FileStore } from './ingest/store.js';
import { createAgentMetrics } from './metrics.js';
import { managedNginx, systemNginx } from './nginx/nginx.js';
import type { SiteOptions } from './nginx/config.js';
import { systemReadings } from './platform/readings.js';
import type { Readings, ReadingsSource } from './platform/readings.js';
import { createTrafficTail } from './traffic/tail.js';
import { loadOrCreateBoxKey } from './enrolment/box-key.js';
import { BoxCredentials } from './enrolment/credentials.js';
import { BoxStatus } from './status/box-status.js';

/** Records and their aggregates sent with one EXCHANGE; the rest follow with later heartbeats. */
const MAX_RECORDS_PER_EXCHANGE = 100;
/** Entrances learnt from replies are kept up to this many, so a bad reply cannot open unbounded sockets. */
const MAX_ENTRANCES = 16;
/** Weight of the newest household-upload sample in its moving average. */
const HOUSEHOLD_SMOOTHING = 0.5;
/** Capacity tests tried when the entrance answers "busy" before giving up until the next schedule. */
const CAPACITY_TEST_ATTEMPTS = 5;
/** Wait after the entrance refused this box's token (an operator has to act first). */
const TOKEN_REFUSED_RETRY_MS = 60_000;
/** Wait after the entrance said this box is revoked. */
const REVOKED_RETRY_MS = 5 * 60_000;

export interface AgentDeps {
  config: AgentConfig;
  redis: Redis;
  boxId: string;
  log: Logger;
  readings?: ReadingsSource;
  /** How often nginx may be reloaded for a new viewer rate (tests shorten it). */
  minReloadIntervalMs?: number;
}

export interface AgentStatus {
  boxPort: number;
  httpPort: number;
  clientIp: string;
  connectWs: string;
  capacity: { upMbit: number; downMbit: number } | undefined;
  idleUpMbit: number | undefined;
  /** What viewers may take now, all together (Mbit/s). */
  viewerBudgetMbit: number;
  nginxConfPath: string;
  accessLogPath: string;
  /** Port of the Prometheus /metrics server; undefined with METRICS_PORT 0 (none). */
  metricsPort: number | undefined;
}

export interface Agent {
  start(): Promise<AgentStatus>;
  status(): AgentStatus;
  /** The EXCHANGE the next heartbeat would send (also stored in {ID}:SELF_EXCHANGE). */
  buildExchange(): Promise<BoxExchange>;
  /** Measure capacity against the first healthy entrance now. */
  measureCapacityNow(): Promise<void>;
  stop(): Promise<void>;
}

export function createAgent(deps: AgentDeps): Agent {
  const { config, redis, boxId } = deps;
  const log = deps.log.child({ box: boxId });
  const keys = boxKeys(boxId);
  const runDirectory = path.resolve(config.RUN_DIRECTORY);
  const baseDirectory = path.resolve(config.BASE_DIRECTORY);
  const accessLogPath = path.join(runDirectory, 'access.log');
  const nginxConfPath = config.NGINX === 'managed' ? path.join(runDirectory, 'nginx.conf') : config.NGINX_SYSTEM_CONF;
  const periodMs = config.BOX_PING_ENTRANCE_FREQ * 1000;
  const maxFileBytes = Math.floor(config.MAX_FILE_MB * 1024 * 1024);
  const policy: ViewerPolicy = { share: config.VIEWER_SHARE, floorMbit: config.VIEWER_FLOOR_MBIT, maxConnections: config.VIEWER_MAX_CONNECTIONS };
  const minReloadMs = deps.minReloadIntervalMs ?? MIN_RELOAD_INTERVAL_MS;
  const readings = deps.readings ?? systemReadings({ baseDirectory });
  const locks = new PathLocks();

  let boxPort = config.BOX_PORT;
  let httpPort = config.BOX_HTTP_PORT;
  let publicIp: string | undefined;
  let capacity: { upMbit: number; downMbit: number } | undefined =
    config.BANDWIDTH_UP > 0 ? { upMbit: config.BANDWIDTH_UP, downMbit: config.BANDWIDTH_DOWN } : undefined;
  let idleUpMbit: number | undefined;
  // Until household use is measured the household counts as idle.
  let appliedBudgetMbit = viewerBudgetMbit(capacity?.upMbit, policy);
  let lastReloadAt = 0;
  let prevUsage: UsageSample | undefined;
  let householdMbit: number | undefined;
  let lastSample: { at: number; readings: Readings } | undefined;
  let measuring: Promise<void> | undefined;
  let bandwidthTask: ScheduledTask | undefined;
  const stopping = new AbortController();
  const links = new Map<string, EntranceLink>();
  let metricsServer: MetricsServer | undefined;
  let credentials: BoxCredentials | undefined;
  const statusDirectory = path.join(runDirectory, 'status');
  const boxStatus = new BoxStatus(boxId, statusDirectory, log.child({ mod: 'status' }));

  const clientIp = (): string => config.BOX_CLIENT_IP || publicIp || connectHostFor(config.BOX_SERVER_IP);
  const connectWs = (): string => `ws://${hostPort(clientIp(), boxPort)}/dandelion/${boxId}/ws/`;
  /** Where viewers fetch this box's files: HTTP_URL + <publisher-id>/<FILE_PATH> (extension field). */
  const httpUrl = (): string => boxHttpUrl(clientIp(), httpPort);
  const own = (): Envelope => ({ ID: boxId, IP: clientIp(), PORT: boxPort, TYPE: 'BOX' });

  const store = new FileStore({ redis, keys, baseDirectory, maxFileBytes, diskReserveBytes: config.DISK_RESERVE_MB * 1024 * 1024, locks });
  // Its gauges are read at scrape time only, once the parts below exist.
  const metrics = createAgentMetrics({
    redis, keys,
    expiryBacklog: () => sweeper.backlog(),
    servedBytes: () => tail.bytesServedTotal(),
    logLagBytes: () => tail.lagBytes(),
    viewerBudgetMbit: () => appliedBudgetMbit,
    entranceLinks: () => ({ total: links.size, healthy: [...links.values()].filter((l) => l.healthy).length }),
  });
  const ingest = createIngestServer({
    boxId, redis, keys, store, maxFileBytes, defaultTtlSeconds: config.DEFAULT_TTL, own,
    publisherRecordTtlSeconds: config.PUBLISHER_RECORD_TTL, maxPublisherRecords: config.MAX_PUBLISHER_RECORDS, log: log.child({ mod: 'ingest' }),
    maxBufferedBytes: (config.MAX_BUFFERED_MB || 2 * config.MAX_FILE_MB) * 1024 * 1024,
    socketsPerAddress: config.MAX_SOCKETS_PER_IP, handshakesPerSecond: config.MAX_HANDSHAKES_PER_SECOND_PER_IP,
    onStored: (size) => metrics.stored(size), onRefused: (code) => metrics.refused(code),
  });
  const sweeper = createExpirySweeper({ redis, keys, baseDirectory, defaultTtlSeconds: config.DEFAULT_TTL, schedule: config.EXPIRY_CRON, locks, log: log.child({ mod: 'expiry' }) });
  const tail = createTrafficTail({ redis, keys, boxId, logPath: accessLogPath, recordTtlSeconds: Math.max(1, Math.ceil(2 * config.BOX_PING_ENTRANCE_FREQ)), log: log.child({ mod: 'traffic' }) });
  const nginx = config.NGINX === 'managed'
    ? managedNginx({ binary: config.NGINX_BINARY, runDirectory, log: log.child({ mod: 'nginx' }) })
    : systemNginx({ binary: config.NGINX_BINARY, confPath: config.NGINX_SYSTEM_CONF, log: log.child({ mod: 'nginx' }) });

  const site = (): SiteOptions => ({
    boxId,
    listenIp: config.BOX_SERVER_IP,
    httpPort,
    agentHost: connectHostFor(config.BOX_SERVER_IP),
    agentPort: boxPort,
    baseDirectory,
    accessLogPath,
    ratesByConnections: Array.from({ length: policy.maxConnections + 1 }, (_, n) => perConnectionRate(appliedBudgetMbit, n === 0 ? policy.maxConnections : n)),
    maxConnections: policy.maxConnections,
    statusDirectory,
  });

  /** Idle upload from this sample, and a new viewer rate for nginx when it moved materially. */
  async function updateBandwidth(r: Readings, at: number): Promise<void> {
    const tx = r['NET-TX-BYTES'];
    if (tx === undefined) return;
    const usage: UsageSample = { atMs: at, netTxBytes: tx, servedBytes: tail.bytesServedTotal() };
    const sampled = prevUsage ? householdUploadMbit(prevUsage, usage) : undefined;
    prevUsage = usage;
    if (sampled === undefined || capacity === undefined) return;
    // Smoothed, so one noisy period does not swing nginx's limits back and forth.
    householdMbit = householdMbit === undefined ? sampled : householdMbit + HOUSEHOLD_SMOOTHING * (sampled - householdMbit);
    const household = householdMbit;
    idleUpMbit = idleUploadMbit(capacity.upMbit, household);
    const budget = viewerBudgetMbit(idleUpMbit, policy);
    if (changedMaterially(appliedBudgetMbit, budget) && at - lastReloadAt >= minReloadMs) {
      log.info({ fromMbit: appliedBudgetMbit, toMbit: budget, householdMbit: household, idleUpMbit }, 'viewer budget changed; reloading nginx');
      appliedBudgetMbit = budget;
      lastReloadAt = at;
      await nginx.reload(site());
    }
  }

  async function sample(): Promise<Readings> {
    // Several entrances share one sample per half period, so CPU shares cover a whole interval.
    const now = Date.now();
    if (lastSample && now - lastSample.at < periodMs / 2) return lastSample.readings;
    const r = await readings.sample();
    // Counters are read at the end of the sample (which can take a while on a busy box): time them there.
    const takenAt = Date.now();
    lastSample = { at: now, readings: r };
    await updateBandwidth(r, takenAt).catch((err: unknown) => log.warn({ err }, 'viewer rate not updated'));
    return r;
  }

  async function buildExchange(): Promise<BoxExchange> {
    const r = await sample();
    const msg: BoxExchange = { ...own(), TYPE: 'BOX', COMMAND: 'EXCHANGE', CONNECT_WS: connectWs(), HTTP_URL: httpUrl(), ...r, VERSION: buildInfo().version };
    msg['FILES-HELD'] = await redis.zcard(keys.expireFiles);
    if (capacity) {
      msg['BANDWIDTH-UP'] = round2(capacity.upMbit);
      msg['BANDWIDTH-DOWN'] = round2(capacity.downMbit);
    }
    if (idleUpMbit !== undefined) msg['BANDWIDTH-IDLE-UP'] = round2(idleUpMbit);
    if (config.GEOIP) msg.GEOIP = config.GEOIP;
    msg.STATUS = boxStatus.current.code;
    await redis.multi().del(keys.selfExchange).hset(keys.selfExchange, toHash(msg)).exec();
    const traffic = await tail.collect(MAX_RECORDS_PER_EXCHANGE);
    Object.assign(msg, traffic.records);
    if (traffic.aggregates.length > 0) msg.TRAFFIC_AGGREGATES = traffic.aggregates;
    return msg;
  }

  async function onAccepted(reply: ExchangeReply, sent: BoxExchange, url: string): Promise<void> {
    if (reply.REACHABLE === false) {
      boxStatus.set('ports-unreachable', `registered with ${url}, but it cannot reach ${httpUrl()} at ${reply.PUBLIC_IP ?? 'the public address'}: forward BOX_HTTP_PORT ${httpPort} on the router`);
    } else {
      boxStatus.set('registered', `registered with ${url}`);
    }
    if (sent.TRAFFIC_AGGREGATES?.length) await tail.acknowledge(sent.TRAFFIC_AGGREGATES.map((a) => a.ID));
    for (const url of reply.ENTRANCE_URLS) addLink(url);
    if (reply.PUBLIC_IP !== undefined && reply.PUBLIC_IP !== publicIp) {
      const first = publicIp === undefined;
      publicIp = reply.PUBLIC_IP;
      log.info({ publicIp }, first ? 'public address learnt from the entrance' : 'public address changed');
      if (!config.BOX_CLIENT_IP) for (const link of links.values()) link.beatNow();
      if (!first) void measureCapacityNow();
    }
  }

  function addLink(url: string): void {
    if (links.has(url) || links.size >= MAX_ENTRANCES) return;
    const link = new EntranceLink({
      url, periodMs, buildExchange, onAccepted, log: log.child({ mod: 'heartbeat' }),
      upgradeHeaders: (u) => (credentials ? credentials.upgradeHeaders(u) : Promise.resolve(undefined)),
      onUpgradeRefused,
      onUnreachable: (u, reason) => {
        if (![...links.values()].some((l) => l.healthy)) boxStatus.unreachable(`cannot reach the entrance ${u}: ${reason}`);
      },
    });
    links.set(url, link);
    link.start();
  }

  /** The entrance refused this box's upgrade: enrol when it does not know the box, else say why and wait. */
  async function onUpgradeRefused(url: string, status: number, body: Record<string, unknown>): Promise<number | undefined> {
    const code = typeof body.ERROR_CODE === 'string' ? body.ERROR_CODE : '';
    const error = typeof body.ERROR === 'string' ? body.ERROR.slice(0, 200) : `HTTP ${status}`;
    if (code === 'E_REVOKED') {
      boxStatus.set('revoked', `${url}: ${error}`);
      return REVOKED_RETRY_MS;
    }
    if (status !== 401 || code !== 'E_AUTH' || /nonce/i.test(error) || !credentials) return undefined;
    if (!credentials.hasToken) {
      boxStatus.set('not-enrolled', `${url} requires enrolment and the config has no ENROLMENT_TOKEN`);
      return TOKEN_REFUSED_RETRY_MS;
    }
    const result = await credentials.enrol(url).catch((err: unknown) => ({ ok: false as const, code: 'E_UNREACHABLE', reason: (err as Error).message }));
    if (result.ok) {
      log.info({ entrance: url }, 'enrolled with the fleet token');
      return 0;
    }
    log.warn({ entrance: url, code: result.code, reason: result.reason }, 'enrolment refused');
    if (result.code === 'E_REVOKED') {
      boxStatus.set('revoked', `${url}: ${result.reason}`);
      return REVOKED_RETRY_MS;
    }
    if (result.code === 'E_UNREACHABLE') return undefined;
    boxStatus.set('token-refused', `${url}: ${result.reason}`);
    return TOKEN_REFUSED_RETRY_MS;
  }

  async function measureCapacityNow(): Promise<void> {
    if (config.BANDWIDTH_UP > 0) return; // fixed in config
    measuring ??= (async () => {
      const link = [...links.values()].find((l) => l.healthy) ?? [...links.values()][0];
      if (!link) return;
      // An entrance runs few tests at once (boxes behind one address queue up): retry when it says busy.
      for (let attempt = 1; ; attempt++) {
        try {
          // Signed like the upgrade, so an enrolled box gets the entrance's reserved slots.
          const creds = credentials;
          const authHeaders = creds ? () => creds.upgradeHeaders(link.url) : undefined;
          const c = await measureCapacity(link.url, { bytes: Math.round(config.BANDWIDTH_TEST_MB * 1024 * 1024), signal: stopping.signal, authHeaders });
          capacity = { upMbit: c.upMbit, downMbit: config.BANDWIDTH_DOWN > 0 ? config.BANDWIDTH_DOWN : c.downMbit };
          log.info({ upMbit: round2(c.upMbit), downMbit: round2(c.downMbit), entrance: link.url }, 'capacity measured');
          return;
        } catch (err) {
          const busy = err instanceof SpeedTestError && err.code === 'E_BUSY';
          if (stopping.signal.aborted) return;
          if (!busy || attempt >= CAPACITY_TEST_ATTEMPTS) {
            log.warn({ err: (err as Error).message }, 'capacity test failed; keeping the previous figures');
            return;
          }
          const waitMs = Math.min((err as SpeedTestError).retryAfterMs ?? 5_000, 60_000) * (0.5 + Math.random());
          log.info({ waitMs: Math.round(waitMs) }, 'entrance busy with other capacity tests; retrying');
          await sleep(waitMs, undefined, { signal: stopping.signal }).catch(() => undefined);
        }
      }
    })().finally(() => {
      measuring = undefined;
    });
    return measuring;
  }

  const status = (): AgentStatus => ({
    boxPort, httpPort, clientIp: clientIp(), connectWs: connectWs(), capacity, idleUpMbit,
    viewerBudgetMbit: appliedBudgetMbit, nginxConfPath, accessLogPath, metricsPort: metricsServer?.port,
  });

  return {
    status,
    buildExchange,
    measureCapacityNow,
    async start() {
      await mkdir(runDirectory, { recursive: true });
      const key = await loadOrCreateBoxKey(config.KEY_FILE || path.join(runDirectory, 'box-key.pem'), log.child({ mod: 'enrolment' }));
      credentials = new BoxCredentials(boxId, key, config.ENROLMENT_TOKEN);
      boxStatus.publish();
      await store.init();
      await sweeper.reconcile();
      await sweeper.sweep();
      boxPort = await ingest.listen(config.BOX_SERVER_IP, config.BOX_PORT);
      // Before nginx starts: a taken METRICS_PORT fails the start before there is a child to clean up.
      if (config.METRICS_PORT > 0) {
        metricsServer = await startMetricsServer({ registry: metrics.registry, host: config.METRICS_IP, port: config.METRICS_PORT, log: log.child({ mod: 'metrics' }) });
      }
      if (httpPort === 0) httpPort = await freePort(config.BOX_SERVER_IP);
      await nginx.start(site());
      await tail.start();
      sweeper.start();
      await sample(); // first CPU sample, so the first EXCHANGE has CPU shares
      for (const url of config.ENTRANCE_URLS) addLink(url);
      if (config.BANDWIDTH_TEST_CRON !== '') {
        bandwidthTask = cron.schedule(config.BANDWIDTH_TEST_CRON, () => measureCapacityNow(), { noOverlap: true, name: 'bandwidth' });
      }
      // The first capacity test waits for the first accepted EXCHANGE, so it runs against a live entrance.
      setTimeout(() => void measureCapacityNow(), Math.min(periodMs, 2_000)).unref();
      log.info({ connectWs: connectWs(), http: httpUrl(), nginx: config.NGINX, metricsPort: metricsServer?.port }, 'box agent started');
      return status();
    },
    async stop() {
      stopping.abort();
      await metricsServer?.stop(); // first: a scrape reads the parts stopped below
      await bandwidthTask?.destroy();
      await ingest.stop();
      await Promise.all([...links.values()].map((l) => l.stop()));
      await sweeper.stop();
      await tail.stop();
      await measuring;
      await nginx.stop();
      await boxStatus.flush();
    },
  };
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

