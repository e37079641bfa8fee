/**
 * Builds the entrance (HTTP server, WebSocket endpoint, registry, background sweep) without listening,
 * so tests start the whole app in-process on a free port. main.ts adds config, signals and exit codes.
 */
import { connectHostFor, hostPort } from '../../shared/src/bind-address.js';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { refuseUpgrade } from '../../shared/src/http-guard.js';
import type { Redis } from 'ioredis';
import { WebSocketServer } from 'ws';
import type { EntranceConfig } from '../../shared/src/config/schemas.js';
import type { Logger } from '../../shared/src/log.js';
import { ProtocolError } from '../../shared/src/protocol/index.js';
import type { Decoded, Envelope } from '../../shared/src/protocol/index.js';
import { entranceKeys } from '../../shared/src/redis-keys.js';
import { attachMessageLoop, closeAll, keepAlive } from '../../shared/src/ws-server.js';
import { remoteIpOf, trustedProxies } from '../../shared/src/peer-address.js';
import { AddressLimits } from '../../shared/src/address-limits.js';
import { ByteBudget, FRAMES_IN_FLIGHT, wireBytes } from '../../shared/src/byte-budget.js';
import type { PeerContext } from '../../shared/src/ws-server.js';
import { handleExchange } from './handlers/exchange.js';
import { handleSearch } from './handlers/search.js';
import { createEntranceHttp } from './http/server.js';
import { createEntranceMetrics } from './metrics.js';
import { BoxRegistry } from './registry/registry.js';
import { Fleet } from './dashboard/fleet.js';
import { Publishers } from './dashboard/publishers.js';
import { createDashboard } from './dashboard/routes.js';
import { createTrafficFolder } from './traffic/fold.js';
import type { EntranceState, OwnInfo } from './state.js';
import { Challenges } from './enrolment/challenge.js';
import { EnrolmentGate } from './enrolment/gate.js';
import { EnrolmentStore } from './enrolment/store.js';
import { Reachability } from './reachability.js';
import { enrolmentKeys } from '../../shared/src/redis-keys.js';
import { Close } from '../../shared/src/protocol/index.js';
import type { WebSocket } from 'ws';

const PING_INTERVAL_MS = 30_000;
/** Largest messages one socket may hold at once: a box and a publisher each wait for every reply. */
const MESSAGES_PER_SOCKET = 2;
/** How often boxes offline for longer than BOX_HISTORY_DAYS are forgotten. */
const PRUNE_INTERVAL_MS = 10 * 60_000;

export interface EntranceDeps {
  config: EntranceConfig;
  id: string;
  redis: Redis;
  log: Logger;
  now?: () => number;
}

export interface Entrance {
  state: EntranceState;
  server: http.Server;
  /** Listen on ENTRANCE_IP:ENTRANCE_PORT; resolves with the URL boxes and publishers should use. */
  listen(): Promise<{ port: number; url: string }>;
  /** One round of background work: sweep expired boxes, reload ENTRANCE_URLS, refresh OWN_INFO. */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

export function createEntrance(deps: EntranceDeps): Entrance {
  const { config, id, redis, log } = deps;
  const keys = entranceKeys(id);
  const registry = new BoxRegistry({ redis, keys, expireSeconds: config.ENTRANCE_EXPIRE_BOX_TIME, log: log.child({ mod: 'registry' }), ...(deps.now ? { now: deps.now } : {}) });
  const fleet = new Fleet({ redis, keys, staleSeconds: config.BOX_STALE_TIME, historyDays: config.BOX_HISTORY_DAYS, ...(deps.now ? { now: deps.now } : {}) });
  const publishers = new Publishers({
    redis, keys, recordSeconds: config.PUBLISHER_RECORD_DAYS * 86_400, maxRecords: config.MAX_PUBLISHER_RECORDS, ...(deps.now ? { now: deps.now } : {}),
  });
  const traffic = createTrafficFolder({ redis, config, log: log.child({ mod: 'traffic' }), ...(deps.now ? { now: deps.now } : {}) });
  const enrolment = new EnrolmentStore(redis, deps.now);
  const challenges = new Challenges(redis, deps.now);
  let own: OwnInfo = ownInfoFor(config, id, config.ENTRANCE_PORT);
  let otherUrls: string[] = [...config.ENTRANCE_OTHER_URLS];
  // Read at scrape time only, after `wss` below exists.
  const metrics = createEntranceMetrics({ redis, boxes: registry, openSockets: () => wss.clients.size, tokenHash: config.METRICS_TOKEN, open: config.METRICS_PUBLIC, log: log.child({ mod: 'metrics' }) });

  const state: EntranceState = {
    config,
    id,
    redis,
    keys,
    registry,
    fleet,
    publishers,
    traffic,
    enrolment,
    reachability: new Reachability(deps.now),
    metrics,
    log,
    trustedProxies: trustedProxies(config.TRUSTED_PROXIES),
    ownInfo: () => own,
    entranceUrls: () => [own.URL, ...otherUrls.filter((u) => u !== own.URL)],
  };

  const wsPath = `${config.BASE_URL.replace(/\/+$/, '')}/${config.WEBSOCKET_URL.replace(/^\/+|\/+$/g, '')}`;
  const gate = new EnrolmentGate({ store: enrolment, challenges, requireEnrolment: config.REQUIRE_ENROLMENT, wsPath, log: log.child({ mod: 'enrolment' }) });
  const dashboard = createDashboard(state, deps.now);
  const web = createEntranceHttp({ state, dashboard, gate, wsPath, onUpgrade: upgrade });
  const server = web.server;

  // permessage-deflate stays off (ws's default for servers, said here so it stays so): inflating is where
  // a small compressed frame would grow past every byte budget.
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.MAX_MESSAGE_BYTES, perMessageDeflate: false });
  const budget = new ByteBudget({ totalBytes: config.MAX_BUFFERED_MB * 1024 * 1024, socketBytes: MESSAGES_PER_SOCKET * wireBytes(config.MAX_MESSAGE_BYTES), framesInFlight: FRAMES_IN_FLIGHT });
  const addresses = new AddressLimits({
    socketsPerAddress: config.MAX_SOCKETS_PER_IP, handshakesPerSecond: config.MAX_HANDSHAKES_PER_SECOND_PER_IP, busy: () => budget.exhausted, onRefused: (code) => metrics.refused(code),
  });
  const stopKeepAlive = keepAlive(wss, PING_INTERVAL_MS);
  let accepting = true;
  /** Sockets of authenticated boxes, so a revocation closes them at once. */
  const boxSockets = new Map<string, Set<WebSocket>>();
  const socketLog = log.child({ mod: 'socket' });

  function upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, url: URL): void {
    const pathname = url.pathname.replace(/\/+$/, '');
    if (!accepting) return refuseUpgrade(socket, 503, { ERROR: 'entrance shutting down', ERROR_CODE: 'E_SHUTTING_DOWN' });
    if (pathname !== wsPath) return refuseUpgrade(socket, 404, { ERROR: `no WebSocket here; connect to ${wsPath}/`, ERROR_CODE: 'E_NOT_FOUND' });
    const remoteIp = remoteIpOf(req, state.trustedProxies);
    if (!addresses.admit(remoteIp, socket)) return;
    gate
      .authenticateUpgrade(req, remoteIp)
      .then((auth) => {
        if (!auth.ok) {
          socketLog.info({ peer: remoteIp, box: req.headers['x-dandelion-box'], code: auth.code, reason: auth.message }, 'upgrade refused');
          metrics.refused(auth.code);
          return refuseUpgrade(socket, auth.status, { ERROR: auth.message, ERROR_CODE: auth.code });
        }
        if (!accepting) return refuseUpgrade(socket, 503, { ERROR: 'entrance shutting down', ERROR_CODE: 'E_SHUTTING_DOWN' });
        wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, remoteIp, auth.boxId));
      })
      .catch((err: unknown) => {
        socketLog.error({ err, peer: remoteIp }, 'could not check the upgrade');
        refuseUpgrade(socket, 503, { ERROR: 'entrance cannot check credentials now; try again', ERROR_CODE: 'E_INTERNAL' });
      });
  }

  function onConnection(ws: WebSocket, remoteIp: string, boxId: string | undefined): void {
    wss.emit('connection', ws);
    socketLog.debug({ peer: remoteIp, box: boxId }, 'peer connected');
    if (boxId !== undefined) {
      const set = boxSockets.get(boxId) ?? new Set<WebSocket>();
      set.add(ws);
      boxSockets.set(boxId, set);
      ws.once('close', () => {
        set.delete(ws);
        if (set.size === 0 && boxSockets.get(boxId) === set) boxSockets.delete(boxId);
      });
    }
    attachMessageLoop(
      ws,
      remoteIp,
      {
        own: (): Envelope => own,
        log: socketLog,
        onMessage: (decoded: Decoded, peer: PeerContext) => dispatch(decoded, peer, state),
        onRefused: (code) => metrics.refused(code),
        budget,
      },
      boxId,
    );
  }

  // Revocations made through any entrance sharing this Redis reach this one at once; the per-heartbeat
  // check in handleExchange covers a message missed while the subscription was down.
  const subscriber = redis.duplicate({ lazyConnect: true });
  subscriber.on('error', (err: Error) => log.debug({ err: err.message }, 'revocation subscriber error'));
  subscriber.on('message', (_channel: string, boxId: string) => {
    for (const ws of boxSockets.get(boxId) ?? []) ws.close(Close.REVOKED, 'enrolment revoked');
    registry.remove(boxId).catch((err: unknown) => log.warn({ err, box: boxId }, 'could not drop a revoked box from the registry'));
  });

  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let lastPrune = 0;
  const sweepLog = log.child({ mod: 'sweep' });

  async function tick(): Promise<void> {
    const removed = await registry.sweep();
    if (removed > 0) sweepLog.info({ removed }, 'expired boxes removed');
    otherUrls = (await redis.smembers(keys.entranceUrls)).sort();
    if (Date.now() - lastPrune > PRUNE_INTERVAL_MS) {
      lastPrune = Date.now();
      await dashboard.prune();
      await publishers.expire();
    }
    await redis.hset(keys.ownInfo, { ID: own.ID, IP: own.IP, PORT: String(own.PORT), TYPE: own.TYPE, URL: own.URL });
  }

  // One pass at a time: the next is scheduled only when this one has finished (never setInterval).
  function scheduleTick(): void {
    timer = setTimeout(() => {
      tick()
        .catch((err: unknown) => sweepLog.warn({ err }, 'background pass failed; will retry'))
        .finally(() => {
          if (!stopped) scheduleTick();
        });
    }, config.ENTRANCE_SWEEP_FREQ * 1000);
  }

  return {
    state,
    server,
    tick,
    async listen() {
      if (config.ENTRANCE_OTHER_URLS.length > 0) await redis.sadd(keys.entranceUrls, ...config.ENTRANCE_OTHER_URLS);
      await challenges.load();
      await subscriber.connect();
      await subscriber.subscribe(enrolmentKeys().revokedChannel);
      const port = await web.listen(config.ENTRANCE_IP, config.ENTRANCE_PORT, { port: 'ENTRANCE_PORT', host: 'ENTRANCE_IP' });
      own = ownInfoFor(config, id, port);
      await tick();
      scheduleTick();
      log.info({ id, url: own.URL, port }, 'entrance listening');
      return { port, url: own.URL };
    },
    async stop() {
      stopped = true;
      accepting = false;
      if (timer) clearTimeout(timer);
      stopKeepAlive();
      dashboard.stop();
      await closeAll(wss, 'entrance shutting down');
      await web.close();
      subscriber.disconnect();
    },
  };
}

function dispatch(decoded: Decoded, peer: PeerContext, state: EntranceState): Promise<Envelope> {
  switch (decoded.kind) {
    case 'EXCHANGE':
      return handleExchange(decoded.msg, peer, state);
    case 'SEARCH':
      return handleSearch(decoded.msg, state);
    default:
      throw new ProtocolError('E_COMMAND', `an entrance answers EXCHANGE from boxes and SEARCH from publishers, not ${decoded.kind}`);
  }
}

function ownInfoFor(config: EntranceConfig, id: string, port: number): OwnInfo {
  const path = `${config.BASE_URL.replace(/\/+$/, '')}/${config.WEBSOCKET_URL.replace(/^\/+|\/+$/g, '')}/`;
  const url = config.ENTRANCE_URL ?? `ws://${hostPort(connectHostFor(config.ENTRANCE_IP), port)}${path}`;
  const parsed = new URL(url);
  const defaultPort = parsed.protocol === 'wss:' || parsed.protocol === 'https:' ? 443 : 80;
  return {
    ID: id,
    IP: parsed.hostname.replace(/^\[|\]$/g, ''),
    PORT: Number(parsed.port || defaultPort),
    TYPE: 'ENTRANCE',
    URL: url,
  };
}
