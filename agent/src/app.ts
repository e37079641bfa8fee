/**
 * The box agent, built from its parts without signal handling, so tests run a whole agent in-process:
 * the publishers' socket (ingest), nginx serving the files, the expiry sweep, the access-log tail, the
 * readings and viewer budget, the capacity tests, and one link per entrance. main.ts adds config,
 * signals, exit codes. This file only wires the parts together and starts and stops them in order.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { connectHostFor } from '../../shared/src/bind-address.js';
import type { AgentConfig } from '../../shared/src/config/schemas.js';
import { checkCanListen, freePort } from '../../shared/src/listen.js';
import type { Logger } from '../../shared/src/log.js';
import { startMetricsServer } from '../../shared/src/metrics.js';
import type { MetricsServer } from '../../shared/src/metrics.js';
import type { BoxExchange, ErrorReply, ExchangeReply } from '../../shared/src/protocol/index.js';
import { boxKeys } from '../../shared/src/redis-keys.js';
import { keyLayoutOfClient } from '../../shared/src/redis.js';
import type { BoxKeys } from '../../shared/src/redis-keys.js';
import { buildInfo } from '../../shared/src/version.js';
import { ViewerBudget } from './bandwidth/budget.js';
import { CapacityTests } from './bandwidth/capacity-tests.js';
import { MIN_RELOAD_INTERVAL_MS } from './bandwidth/policy.js';
import { HouseholdYield } from './bandwidth/uplink/household-yield.js';
import { interfaceOf, interfaceSentBytes } from './bandwidth/uplink/interface-counters.js';
import { loadOrCreatePeerKey } from '../../shared/src/enrolment/peer-key.js';
import { PeerCredentials } from '../../shared/src/enrolment/peer-credentials.js';
import { createExpirySweeper } from './expiry/sweeper.js';
import type { ExpirySweeper } from './expiry/sweeper.js';
import { exchangeAccepted, exchangeRefused } from './heartbeat/accepted.js';
import { Updater, releaseArch } from './update/updater.js';
import { trustedReleaseKeys } from '../../shared/src/release/trusted-keys.js';
import { BoxAddress } from './heartbeat/box-address.js';
import { EntranceLinks } from './heartbeat/entrance-links.js';
import { ExchangeBuilder } from './heartbeat/exchange.js';
import { ErrorCounts } from './heartbeat/error-counts.js';
import type { ExchangeInputs } from './heartbeat/exchange.js';
import { ReadingsSampler } from './heartbeat/sampler.js';
import { BoxCertificate } from './https/box-certificate.js';
import { certificatePaths } from './https/certificate-files.js';
import type { IssuedCertificate } from './https/issued-chain.js';
import { PathLocks } from './ingest/path-locks.js';
import { createIngestServer } from './ingest/server.js';
import type { IngestServer } from './ingest/server.js';
import { FileStore } from './ingest/store.js';
import { PublisherUsage } from './ingest/publisher-usage.js';
import { createAgentMetrics } from './metrics.js';
import type { AgentMetrics } from './metrics.js';
import type { SiteOptions } from './nginx/config.js';
import { managedNginx, systemNginx, waitForPort } from './nginx/nginx.js';
import type { Nginx } from './nginx/nginx.js';
import { systemReadings } from './platform/readings.js';
import type { Readings, ReadingsSource } from './platform/readings.js';
import { bindsLoopbackOnly, localAdvice, reachabilityFields } from './reachability/box-reachability.js';
import { PortMapper } from './reachability/port-mapper.js';
import { reachabilityAdvice } from '../../shared/src/reachability-advice.js';
import { BoxStatus } from './status/box-status.js';
import { cappedRates } from './household/cap.js';
import { householdExchangeFields } from './household/exchange-fields.js';
import { Household } from './household/household.js';
import type { HouseholdView } from './household/household.js';
import { householdRoutes } from './household/http-routes.js';
import { pauseSentence } from './household/pause.js';
import { householdSnapshot } from './household/status-section.js';
import { createTrafficTail } from './traffic/tail.js';
import type { TrafficTail } from './traffic/tail.js';
import { BoxTrust } from './trust/box-trust.js';

export interface AgentDeps {
  config: AgentConfig;
  redis: Redis;
  boxId: string;
  log: Logger;
  readings?: ReadingsSource;
  /** How often nginx may be reloaded for a new viewer rate (tests shorten it). */
  minReloadIntervalMs?: number;
  /** The household's clock: quiet hours and the quota's month (tests move it). */
  now?: () => number;
  /** Stop cleanly and exit with EXIT_FOR_UPDATE once an update is staged (main.ts); absent: updates are staged, never started. */
  exitForUpdate?: () => void;
}

export interface AgentStatus {
  boxPort: number;
  httpPort: number;
  /** nginx's HTTPS port (served once the box holds a certificate). */
  httpsPort: number;
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
  /** The household's quota, quiet hours and cap, and the pause they add up to. */
  household: Household;
  stop(): Promise<void>;
}

export function createAgent(deps: AgentDeps): Agent {
  const parts = assemble(deps);
  return {
    status: () => statusOf(parts),
    buildExchange: () => parts.exchange.build(),
    measureCapacityNow: () => parts.capacityTests.measureNow(),
    household: parts.household,
    start: () => startParts(parts),
    stop: () => stopParts(parts),
  };
}

interface AgentPaths {
  runDirectory: string;
  baseDirectory: string;
  accessLogPath: string;
  nginxConfPath: string;
  statusDirectory: string;
}

/** The parts of one agent; `held` is what exists only once start() made it. */
interface Parts {
  boxId: string;
  config: AgentConfig;
  log: Logger;
  paths: AgentPaths;
  address: BoxAddress;
  budget: ViewerBudget;
  boxStatus: BoxStatus;
  /** The household's settings: UPLOAD_CAP_MBIT (`capMbit`) is every viewer rate's ceiling; a pause means none. */
  household: Household;
  trust: BoxTrust;
  usage: PublisherUsage;
  store: FileStore;
  sweeper: ExpirySweeper;
  tail: TrafficTail;
  /** SERVE-ERRORS, AGENT-ERRORS, AGENT-UPTIME for a rollout's health (heartbeat/error-counts.ts). */
  errors: ErrorCounts;
  nginx: Nginx;
  ingest: IngestServer;
  metrics: AgentMetrics;
  sampler: ReadingsSampler;
  exchange: ExchangeBuilder;
  links: EntranceLinks;
  capacityTests: CapacityTests;
  /** The box's HTTPS certificate (HTTPS: auto); undefined with HTTPS: off. */
  certificate: BoxCertificate | undefined;
  portMapper: PortMapper;
  /** The box's own pacing of viewers by the router's queueing delay; undefined with HOUSEHOLD_YIELD off or on loopback. */
  householdYield: HouseholdYield | undefined;
  /** Updates over the air: offers from EXCHANGE replies, the A/B slots' state (update/updater.ts). */
  updater: Updater;
  held: { credentials?: PeerCredentials; metricsServer?: MetricsServer; httpsServerName?: string };
}

function agentPaths(config: AgentConfig): AgentPaths {
  const runDirectory = path.resolve(config.RUN_DIRECTORY);
  return {
    runDirectory,
    baseDirectory: path.resolve(config.BASE_DIRECTORY),
    accessLogPath: path.join(runDirectory, 'access.log'),
    nginxConfPath: config.NGINX === 'managed' ? path.join(runDirectory, 'nginx.conf') : config.NGINX_SYSTEM_CONF,
    statusDirectory: path.join(runDirectory, 'status'),
  };
}

/** Every part, built but not started. Parts that call each other later do so through `parts`. */
function assemble(deps: AgentDeps): Parts {
  const { config, boxId } = deps;
  const log = deps.log.child({ box: boxId });
  const paths = agentPaths(config);
  const keys = boxKeys(boxId, keyLayoutOfClient(deps.redis));
  const address = new BoxAddress({ boxId, fixedIp: config.BOX_CLIENT_IP, serverIp: config.BOX_SERVER_IP, boxPort: config.BOX_PORT, httpPort: config.BOX_HTTP_PORT, httpsPort: config.BOX_HTTPS_PORT });
  const budget = new ViewerBudget({
    policy: { share: config.VIEWER_SHARE, floorMbit: config.VIEWER_FLOOR_MBIT, maxConnections: config.VIEWER_MAX_CONNECTIONS },
    capacity: config.BANDWIDTH_UP > 0 ? { upMbit: config.BANDWIDTH_UP, downMbit: config.BANDWIDTH_DOWN } : undefined,
    minReloadMs: deps.minReloadIntervalMs ?? MIN_RELOAD_INTERVAL_MS,
  });
  const boxStatus = new BoxStatus(boxId, paths.statusDirectory, log.child({ mod: 'status' }));
  const trust = new BoxTrust({ file: path.join(paths.runDirectory, 'fleet-trust.json'), log: log.child({ mod: 'trust' }) });
  const household = new Household({ config, runDirectory: paths.runDirectory, log: log.child({ mod: 'household' }), ...(deps.now ? { now: deps.now } : {}) });
  const parts: Parts = {
    boxId, config, log, paths, address, budget, boxStatus, household, trust,
    ...assembleServing(deps, log, keys, paths, { trust, household, boxStatus }, () => parts),
    ...assembleHeartbeat(deps, log, keys, { address, boxStatus }, () => parts),
    certificate: config.HTTPS === 'auto' ? boxCertificate(paths, log, () => parts) : undefined,
    portMapper: assemblePortMapper(config, log, () => parts),
    householdYield: assembleHouseholdYield(config, log, () => parts),
    updater: assembleUpdater(deps, log, () => parts),
    held: {},
  };
  return parts;
}

/**
 * The updater. Its downloads take the household's budget into account: none during quiet hours (the
 * household asked for a quiet line), and at most a quarter of the measured download capacity otherwise.
 */
function assembleUpdater(deps: AgentDeps, log: Logger, parts: () => Parts): Updater {
  const { config } = deps;
  return new Updater({
    dir: path.resolve(config.UPDATE_DIRECTORY), confirmS: config.UPDATE_CONFIRM_S,
    version: buildInfo().version, arch: releaseArch(), keys: trustedReleaseKeys(),
    downloadMbit: () => {
      const p = parts();
      if (p.household.view().pause.reason === 'quiet-hours') return 0;
      const down = p.budget.capacity?.downMbit;
      return down !== undefined && down > 0 ? down * UPDATE_DOWNLOAD_SHARE : undefined;
    },
    exitForUpdate: () => (deps.exitForUpdate ?? (() => log.warn('update staged; it starts with the next start of the agent')))(),
    log: log.child({ mod: 'update' }),
  });
}

/** The share of the measured download capacity an update's download may take. */
const UPDATE_DOWNLOAD_SHARE = 0.25;

type ServingParts = Pick<Parts, 'usage' | 'store' | 'sweeper' | 'tail' | 'errors' | 'nginx' | 'ingest' | 'metrics'>;

/** The parts that take files and serve them: store, ingest, expiry sweep, access-log tail, nginx, metrics. */
function assembleServing(deps: AgentDeps, log: Logger, keys: BoxKeys, paths: AgentPaths, own: Pick<Parts, 'trust' | 'household' | 'boxStatus'>, parts: () => Parts): ServingParts {
  const { trust, household } = own;
  const { config, redis, boxId } = deps;
  const { baseDirectory, runDirectory } = paths;
  const maxFileBytes = Math.floor(config.MAX_FILE_MB * 1024 * 1024);
  const locks = new PathLocks();
  const usage = new PublisherUsage();
  const store = new FileStore({ redis, keys, baseDirectory, maxFileBytes, diskReserveBytes: config.DISK_RESERVE_MB * 1024 * 1024, locks, usage });
  const sweeper = createExpirySweeper({
    redis, keys, baseDirectory, defaultTtlSeconds: config.DEFAULT_TTL, schedule: config.EXPIRY_CRON, locks, log: log.child({ mod: 'expiry' }),
    onRemoved: (relativePath) => usage.removed(relativePath),
  });
  const tail = createTrafficTail({
    redis, keys, boxId, logPath: paths.accessLogPath, recordTtlSeconds: Math.max(1, Math.ceil(2 * config.BOX_PING_ENTRANCE_FREQ)), log: log.child({ mod: 'traffic' }),
    onServed: (bytes) => household.served(bytes), onPassFailed: () => errors.agentError('traffic'),
  });
  const errors = new ErrorCounts(() => tail.serverErrorsTotal());
  const nginx = config.NGINX === 'managed'
    ? managedNginx({ binary: config.NGINX_BINARY, runDirectory, log: log.child({ mod: 'nginx' }) })
    : systemNginx({ binary: config.NGINX_BINARY, confPath: config.NGINX_SYSTEM_CONF, log: log.child({ mod: 'nginx' }) });
  // Its gauges are read at scrape time only, once every part exists.
  const metrics = createAgentMetrics({
    redis, keys,
    expiryBacklog: () => sweeper.backlog(),
    servedBytes: () => tail.bytesServedTotal(),
    logLagBytes: () => tail.lagBytes(),
    viewerBudgetMbit: () => parts().budget.appliedMbit,
    entranceLinks: () => ({ total: parts().links.size, healthy: parts().links.healthyCount() }),
  });
  const ingest = createIngestServer({
    boxId, redis, keys, store, trust, maxFileBytes, defaultTtlSeconds: config.DEFAULT_TTL, own: () => parts().address.envelope(),
    publisherRecordTtlSeconds: config.PUBLISHER_RECORD_TTL, maxPublisherRecords: config.MAX_PUBLISHER_RECORDS, log: log.child({ mod: 'ingest' }),
    maxBufferedBytes: (config.MAX_BUFFERED_MB || 2 * config.MAX_FILE_MB) * 1024 * 1024,
    socketsPerAddress: config.MAX_SOCKETS_PER_IP, handshakesPerSecond: config.MAX_HANDSHAKES_PER_SECOND_PER_IP,
    onStored: (size) => metrics.stored(size),
    onRefused: (code) => {
      metrics.refused(code);
      if (code === 'E_INTERNAL') errors.agentError('ingest');
    },
    routes: householdRoutes({ household, statusWritten: () => own.boxStatus.flush() }),
  });
  return { usage, store, sweeper, tail, errors, nginx, ingest, metrics };
}

type HeartbeatParts = Pick<Parts, 'sampler' | 'exchange' | 'links' | 'capacityTests'>;

/** The parts that talk to entrances: readings, the EXCHANGE, the links, the capacity tests. */
function assembleHeartbeat(deps: AgentDeps, log: Logger, keys: BoxKeys, own: Pick<Parts, 'address' | 'boxStatus'>, parts: () => Parts): HeartbeatParts {
  const { config, redis } = deps;
  const periodMs = config.BOX_PING_ENTRANCE_FREQ * 1000;
  const sampler = new ReadingsSampler({
    source: deps.readings ?? systemReadings({ baseDirectory: path.resolve(config.BASE_DIRECTORY) }),
    periodMs,
    onSample: (r, at) => applyViewerBudget(parts(), r, at).catch((err: unknown) => log.warn({ err }, 'viewer rate not updated')),
  });
  const exchange = new ExchangeBuilder({
    redis, keys,
    sample: () => sampler.sample(),
    current: () => exchangeState(parts()),
    collect: (max) => parts().tail.collect(max),
  });
  const authHeaders = (url: string): Promise<Record<string, string> | undefined> => parts().held.credentials?.upgradeHeaders(url) ?? Promise.resolve(undefined);
  const links = new EntranceLinks({
    periodMs, log: log.child({ mod: 'heartbeat' }),
    buildExchange: () => exchange.build(),
    credentials: () => parts().held.credentials,
    boxStatus: own.boxStatus,
    onAccepted: async (reply, sent, url) => {
      await accepted(reply, sent, url);
      // Not awaited: a download takes minutes and the heartbeats go on meanwhile.
      parts().updater.accepted(reply.UPDATE).catch((err: unknown) => {
        parts().errors.agentError('update');
        log.error({ err }, 'update failed');
      });
      await applyTrust(parts(), reply);
      if (reply.BOX_NAME !== undefined) parts().certificate?.nameGiven(reply.BOX_NAME, url);
    },
    onRefused: countedRefusal(exchangeRefused({ address: own.address, log }), () => parts().errors),
  });
  const capacityTests = new CapacityTests({
    fixed: config.BANDWIDTH_UP > 0, schedule: config.BANDWIDTH_TEST_CRON, bytes: Math.round(config.BANDWIDTH_TEST_MB * 1024 * 1024),
    fixedDownMbit: config.BANDWIDTH_DOWN, periodMs, log,
    entrance: () => links.pick(),
    authHeaders,
    sentBytes: () => {
      const iface = interfaceOf(links.localAddress());
      return iface === undefined ? Promise.resolve(undefined) : interfaceSentBytes(iface);
    },
    onMeasured(capacity) {
      parts().budget.capacity = capacity;
    },
  });
  const accepted = exchangeAccepted({
    address: own.address, boxStatus: own.boxStatus, log,
    adviceFor: (verdict, method) => {
      const { lanIp, method: mapping } = parts().portMapper.state;
      return reachabilityAdvice({ verdict, mapping, ports: mappedPorts(parts()), ...(method ? { method } : {}), ...(lanIp ? { lanIp } : {}) });
    },
    acknowledge: (ids) => parts().tail.acknowledge(ids),
    beatAll: () => links.beatAll(),
    remeasure: () => void capacityTests.measureNow(),
  });
  return { sampler, exchange, links, capacityTests };
}

/** Yielding to the household by queueing delay, on the viewer ports, under the viewer budget's ceiling. */
function assembleHouseholdYield(config: AgentConfig, log: Logger, parts: () => Parts): HouseholdYield | undefined {
  if (config.HOUSEHOLD_YIELD === 'off' || bindsLoopbackOnly(config.BOX_SERVER_IP)) return undefined;
  return new HouseholdYield({
    floorMbit: config.VIEWER_FLOOR_MBIT,
    targetMs: config.HOUSEHOLD_DELAY_TARGET_MS,
    periodMs: config.BOX_PING_ENTRANCE_FREQ * 1000,
    ports: () => [parts().address.httpPort, ...(parts().held.httpsServerName !== undefined ? [parts().address.httpsPort] : [])],
    maxMbit: () => parts().household.ceilingMbit(parts().budget.ceilingMbit), // 0 while the household pauses serving
    onShaping: (shaping) => {
      parts().budget.householdFromOwnCounters = !shaping;
    },
    localAddress: () => parts().links.localAddress(),
    roundTripMs: (timeoutMs) => parts().links.roundTripMs(timeoutMs),
    log: log.child({ mod: 'yield' }),
  });
}

/** How long the entrance may take to answer a CERTIFY (it runs a whole ACME order meanwhile). */
const CERTIFY_TIMEOUT_MS = 120_000;

/** The box's certificate, asked for over the entrance links and served by nginx on BOX_HTTPS_PORT. */
function boxCertificate(paths: AgentPaths, log: Logger, parts: () => Parts): BoxCertificate {
  return new BoxCertificate({
    paths: certificatePaths(paths.runDirectory),
    log: log.child({ mod: 'https' }),
    certify: (csr, url) => parts().links.certify({ ...parts().address.envelope(), TYPE: 'BOX', COMMAND: 'CERTIFY', CSR: csr }, url, CERTIFY_TIMEOUT_MS),
    serve: (issued) => serveCertificate(parts(), issued),
  });
}

/**
 * A new certificate is stored: nginx reloads (its old workers finish the downloads in flight), then the
 * box announces HTTPS_URL at once. The port is checked first: nginx would keep its old config without a word.
 */
async function serveCertificate(p: Parts, issued: IssuedCertificate): Promise<void> {
  const before = p.held.httpsServerName;
  if (before === undefined) await checkCanListen(p.config.BOX_SERVER_IP, p.address.httpsPort, HTTPS_LISTEN_KEYS);
  p.held.httpsServerName = issued.name; // siteOptions() names the HTTPS server from now on, for every reload
  try {
    await p.nginx.reload(siteOptions(p));
    if (before === undefined) await waitForPort(connectHostFor(p.config.BOX_SERVER_IP), p.address.httpsPort);
  } catch (err) {
    p.held.httpsServerName = before;
    throw err;
  }
  p.address.httpsName = issued.name; // announced only once nginx answers on the port
  p.boxStatus.certificateServed(issued.name, issued.notAfterMs);
  p.links.beatAll();
}

const HTTPS_LISTEN_KEYS = { port: 'BOX_HTTPS_PORT', host: 'BOX_SERVER_IP' };

/** The home router's port mappings: each change goes to the box's URLs, its status page and, at once, to the entrances. */
function assemblePortMapper(config: AgentConfig, log: Logger, parts: () => Parts): PortMapper {
  return new PortMapper({
    mode: bindsLoopbackOnly(config.BOX_SERVER_IP) ? 'off' : config.PORT_MAPPING,
    ports: () => mappedPorts(parts()),
    checkEveryMs: Math.max(1_000, config.BOX_PING_ENTRANCE_FREQ * 1000),
    log: log.child({ mod: 'portmap' }),
    onChange(state) {
      const p = parts();
      p.address.useExternalPorts(state.external);
      p.boxStatus.advise('box', localAdvice(state, mappedPorts(p)));
      p.links.beatAll();
    },
  });
}

/** The internal TCP ports viewers and publishers need, viewers' first (the order the household forwards them in). */
function mappedPorts(p: Parts): number[] {
  const ports = [p.address.httpPort, p.address.boxPort];
  // The HTTPS port is mapped ahead of its certificate, so viewers reach it the moment nginx serves one.
  if (p.config.HTTPS === 'auto' && p.address.httpsPort !== 0) ports.push(p.address.httpsPort);
  return ports;
}

/**
 * Take the fleet keys and revoked publishers an EXCHANGE reply carries, and delete what revoked publishers
 * still hold here. Each reply names them all, so files a write in flight put down after a removal go with
 * the next heartbeat.
 */
async function applyTrust(p: Parts, reply: ExchangeReply): Promise<void> {
  for (const publisherId of await p.trust.learn(reply)) {
    const paths = p.usage.pathsOf(publisherId);
    if (paths.length === 0) continue;
    await p.sweeper.removeNow(paths);
    p.log.warn({ publisher: publisherId, files: paths.length }, 'revoked publisher: its files deleted');
  }
}

/** The EXCHANGE's inputs besides readings and files held, as of now. */
function exchangeState(p: Parts): Omit<ExchangeInputs, 'readings' | 'filesHeld'> {
  return {
    envelope: p.address.envelope(), connectWs: p.address.connectWs(), httpUrl: p.address.httpUrl(), httpsUrl: p.address.httpsUrl(), version: buildInfo().version,
    capacity: p.budget.capacity, idleUpMbit: p.budget.idleUpMbit, geoip: p.config.GEOIP, status: p.boxStatus.current.code,
    reachability: reachabilityFields(p.portMapper.state, p.links.localAddress()),
    household: householdExchangeFields(p.household.view()),
    viewerRateMbit: p.householdYield?.rateMbit,
    update: p.updater.exchangeFields(),
    errorCounts: p.errors.exchangeFields(),
  };
}

/**
 * A refused EXCHANGE counts in AGENT-ERRORS, except E_ADDRESS: that refusal is how a box learns its public
 * address, once at each start, and says nothing of its health.
 */
function countedRefusal(handle: (reply: ErrorReply, url: string) => void, errors: () => ErrorCounts): (reply: ErrorReply, url: string) => void {
  return (reply, url) => {
    if (reply.ERROR_CODE !== 'E_ADDRESS') errors().agentError('exchange');
    handle(reply, url);
  };
}

/** Feeds a sample's upload counter to the viewer budget, and reloads nginx when the budget moved. */
async function applyViewerBudget(p: Parts, r: Readings, at: number): Promise<void> {
  const tx = r['NET-TX-BYTES'];
  if (tx === undefined) return;
  const change = p.budget.observe({ atMs: at, netTxBytes: tx, servedBytes: p.tail.bytesServedTotal() });
  if (!change) return;
  p.log.info(change, 'viewer budget changed; reloading nginx');
  await p.nginx.reload(siteOptions(p));
}

function siteOptions(p: Parts): SiteOptions {
  return {
    boxId: p.boxId,
    listenIp: p.config.BOX_SERVER_IP,
    httpPort: p.address.httpPort,
    agentHost: connectHostFor(p.config.BOX_SERVER_IP),
    agentPort: p.address.boxPort,
    baseDirectory: p.paths.baseDirectory,
    accessLogPath: p.paths.accessLogPath,
    ratesByConnections: cappedRates(p.budget.ratesByConnections(), p.household.capMbit, p.budget.policy.maxConnections),
    maxConnections: p.budget.policy.maxConnections,
    statusDirectory: p.paths.statusDirectory,
    ...(p.held.httpsServerName !== undefined ? { https: { port: p.address.httpsPort, ...certificatePaths(p.paths.runDirectory) } } : {}),
    ...servingPause(p),
  };
}

/** While the household pauses serving: why, and Retry-After from the household's clock. */
function servingPause(p: Parts): Pick<SiteOptions, 'pause'> {
  const { until } = p.household.pause;
  if (until === undefined) return {};
  return { pause: { sentence: pauseSentence(p.household.pause), retryAfterSeconds: (until - p.household.nowMs()) / 1000 } };
}

/** A new pause, cap or setting: nginx serves by it, the status page shows it, the entrances hear at once. */
function householdChanged(p: Parts, view: HouseholdView): void {
  p.boxStatus.household(householdSnapshot(view));
  p.nginx.reload(siteOptions(p)).catch((err: unknown) => p.log.error({ err }, 'nginx not reloaded for the household\'s settings'));
  p.links.beatAll();
}

function statusOf(p: Parts): AgentStatus {
  const { address, budget, paths } = p;
  return {
    boxPort: address.boxPort, httpPort: address.httpPort, httpsPort: address.httpsPort, clientIp: address.clientIp(), connectWs: address.connectWs(),
    capacity: budget.capacity, idleUpMbit: budget.idleUpMbit, viewerBudgetMbit: budget.appliedMbit,
    nginxConfPath: paths.nginxConfPath, accessLogPath: paths.accessLogPath, metricsPort: p.held.metricsServer?.port,
  };
}

async function startParts(p: Parts): Promise<AgentStatus> {
  const { config, log, address } = p;
  await mkdir(p.paths.runDirectory, { recursive: true });
  const key = await loadOrCreatePeerKey(config.KEY_FILE || path.join(p.paths.runDirectory, 'box-key.pem'), log.child({ mod: 'enrolment' }));
  p.held.credentials = new PeerCredentials(p.boxId, key, config.ENROLMENT_TOKEN, (fleetKeys) => p.trust.pin(fleetKeys));
  p.boxStatus.publish();
  await p.trust.load();
  await p.store.init();
  await p.sweeper.reconcile();
  await p.sweeper.sweep();
  await p.usage.load(p.paths.baseDirectory);
  await p.updater.start(); // before the first EXCHANGE, which reports the version and any failed update
  await p.household.start(); // before nginx's first config, which serves by its pause and cap
  p.household.onChange((view) => householdChanged(p, view));
  p.boxStatus.household(householdSnapshot(p.household.view()));
  address.boxPort = await p.ingest.listen(config.BOX_SERVER_IP, config.BOX_PORT);
  // Before nginx starts: a taken METRICS_PORT fails the start before there is a child to clean up.
  if (config.METRICS_PORT > 0) {
    p.held.metricsServer = await startMetricsServer({ registry: p.metrics.registry, host: config.METRICS_IP, port: config.METRICS_PORT, log: log.child({ mod: 'metrics' }) });
  }
  if (address.httpPort === 0) address.httpPort = await freePort(config.BOX_SERVER_IP);
  await loadCertificate(p);
  await p.nginx.start(siteOptions(p));
  // Before the first EXCHANGE, so it carries the router's external ports and the mapping's outcome.
  await p.portMapper.start();
  await p.tail.start();
  p.sweeper.start();
  await p.sampler.sample(); // first CPU sample, so the first EXCHANGE has CPU shares
  for (const url of config.ENTRANCE_URLS) p.links.add(url);
  // The first capacity test waits for the first accepted EXCHANGE, so it runs against a live entrance.
  p.capacityTests.start();
  p.householdYield?.start();
  log.info({ connectWs: address.connectWs(), http: address.httpUrl(), nginx: config.NGINX, metricsPort: p.held.metricsServer?.port }, 'box agent started');
  return statusOf(p);
}

/** A stored certificate still valid is served from nginx's first start, before any entrance answers. */
async function loadCertificate(p: Parts): Promise<void> {
  if (!p.certificate) return;
  if (p.address.httpsPort === 0) p.address.httpsPort = await freePort(p.config.BOX_SERVER_IP);
  const stored = await p.certificate.load();
  if (!stored) return;
  p.held.httpsServerName = stored.name;
  p.address.httpsName = stored.name;
  p.boxStatus.certificateServed(stored.name, stored.notAfterMs);
}

async function stopParts(p: Parts): Promise<void> {
  await p.held.metricsServer?.stop(); // first: a scrape reads the parts stopped below
  await p.capacityTests.stop();
  await p.householdYield?.stop();
  await p.portMapper.stop(); // early: a router slow to answer must not eat the shutdown's grace
  await p.ingest.stop();
  await p.links.stop(); // rejects a CERTIFY waiting for its reply
  await p.certificate?.settled();
  await p.sweeper.stop();
  // nginx before the tail: stopping flushes its buffered access log (up to a second of lines), which the
  // tail's last pass then counts in this run, not in whatever month the next start reads them in.
  await p.nginx.stop();
  await p.tail.stop();
  await p.household.stop(); // after the tail: its last bytes count towards the month
  await p.boxStatus.flush();
}
