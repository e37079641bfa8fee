/**
 * Builds the entrance (HTTP server, WebSocket endpoint, registry, background sweep) without listening,
 * so tests start the whole app in-process on a free port. main.ts adds config, signals and exit codes.
 */
import { listenOn } from '../../shared/src/listen.js';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { createGuardedServer, refuseUpgrade } from '../../shared/src/http-guard.js';
import type { Redis } from 'ioredis';
import { WebSocketServer } from 'ws';
import type { EntranceConfig } from '../../shared/src/config/schemas.js';
import type { Logger } from '../../shared/src/log.js';
import { closeAll, keepAlive } from '../../shared/src/ws-server.js';
import { AddressLimits } from '../../shared/src/address-limits.js';
import { ByteBudget, FRAMES_IN_FLIGHT, wireBytes } from '../../shared/src/byte-budget.js';
import { remoteIpOf } from '../../shared/src/peer-address.js';
import { assembleEntrance } from './assemble.js';
import type { EntranceServices } from './context.js';
import { createHttpHandler } from './http.js';
import { websocketPath } from './own-info.js';
import { createPeerConnections } from './peer-connection.js';
import { createDashboard } from './dashboard/routes.js';
import { EnrolmentGate } from './enrolment/gate.js';
import type { WebSocket } from 'ws';

const PING_INTERVAL_MS = 30_000;
/** Largest messages one socket may hold at once: a box and a publisher each wait for every reply. */
const MESSAGES_PER_SOCKET = 2;

export interface EntranceDeps {
  config: EntranceConfig;
  id: string;
  redis: Redis;
  log: Logger;
  now?: () => number;
}

export interface Entrance {
  services: EntranceServices;
  server: http.Server;
  /** Listen on ENTRANCE_IP:ENTRANCE_PORT; resolves with the URL boxes and publishers should use. */
  listen(): Promise<{ port: number; url: string }>;
  /** One round of background work: sweep expired boxes, reload ENTRANCE_URLS, refresh OWN_INFO. */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

// Over 60 lines: the upgrade handler, listen() and stop() share the servers built here, and stop() orders their shutdown.
export function createEntrance(deps: EntranceDeps): Entrance {
  const { config, id, redis, log } = deps;
  const { identity, ctx, services, challenges, revocations, background } = assembleEntrance({ ...deps, openSockets: () => wss.clients.size });
  const { keys, metrics, enrolment } = services;

  const wsPath = websocketPath(config);
  const gate = new EnrolmentGate({ store: enrolment, challenges, requireEnrolment: config.REQUIRE_ENROLMENT, wsPath, log: log.child({ mod: 'enrolment' }) });
  const dashboard = createDashboard(services, deps.now);
  const handleHttp = createHttpHandler(services, dashboard, gate);
  const server = createGuardedServer({ log, onRequest: handleHttp, onUpgrade: upgrade });

  // permessage-deflate stays off (ws's default for servers, said here so it stays so): inflating is where
  // a small compressed frame would grow past every byte budget.
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.MAX_MESSAGE_BYTES, perMessageDeflate: false });
  const budget = new ByteBudget({ totalBytes: config.MAX_BUFFERED_MB * 1024 * 1024, socketBytes: MESSAGES_PER_SOCKET * wireBytes(config.MAX_MESSAGE_BYTES), framesInFlight: FRAMES_IN_FLIGHT });
  const addresses = new AddressLimits({
    socketsPerAddress: config.MAX_SOCKETS_PER_IP, handshakesPerSecond: config.MAX_HANDSHAKES_PER_SECOND_PER_IP, busy: () => budget.exhausted, onRefused: (code) => metrics.refused(code),
  });
  const stopKeepAlive = keepAlive(wss, PING_INTERVAL_MS);
  let accepting = true;
  const socketLog = log.child({ mod: 'socket' });
  const acceptPeer = createPeerConnections({ ctx, revocations, budget, log: socketLog });

  function upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, url: URL): void {
    const pathname = url.pathname.replace(/\/+$/, '');
    if (!accepting) return refuseUpgrade(socket, 503, { ERROR: 'entrance shutting down', ERROR_CODE: 'E_SHUTTING_DOWN' });
    if (pathname !== wsPath) return refuseUpgrade(socket, 404, { ERROR: `no WebSocket here; connect to ${wsPath}/`, ERROR_CODE: 'E_NOT_FOUND' });
    const remoteIp = remoteIpOf(req, services.trustedProxies);
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
    acceptPeer(ws, remoteIp, boxId);
  }

  return {
    services,
    server,
    tick: background.tick,
    async listen() {
      if (config.ENTRANCE_OTHER_URLS.length > 0) await redis.sadd(keys.entranceUrls, ...config.ENTRANCE_OTHER_URLS);
      await challenges.load();
      await revocations.start();
      const port = await listenOn(server, config.ENTRANCE_IP, config.ENTRANCE_PORT, { port: 'ENTRANCE_PORT', host: 'ENTRANCE_IP' });
      identity.listeningOn(port);
      await background.tick();
      background.start();
      const { URL: url } = identity.ownInfo();
      log.info({ id, url, port }, 'entrance listening');
      return { port, url };
    },
    async stop() {
      accepting = false;
      background.stop();
      stopKeepAlive();
      dashboard.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await closeAll(wss, 'entrance shutting down');
      server.closeAllConnections();
      await closed;
      revocations.stop();
    },
  };
}
