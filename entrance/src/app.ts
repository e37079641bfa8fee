/**
 * Builds the entrance (HTTP server, WebSocket endpoint, registry, background sweep) without listening,
 * so tests start the whole app in-process on a free port. main.ts adds config, signals and exit codes.
 */
import type http from 'node:http';
import type { Redis } from 'ioredis';
import { WebSocketServer } from 'ws';
import type { EntranceConfig } from '../../shared/src/config/schemas.js';
import type { Logger } from '../../shared/src/log.js';
import { closeAll, keepAlive } from '../../shared/src/ws-server.js';
import { AddressLimits } from '../../shared/src/address-limits.js';
import { trustedProxies } from '../../shared/src/peer-address.js';
import { requireProxyHeaders } from '../../shared/src/proxy-accept.js';
import { ByteBudget, FRAMES_IN_FLIGHT, wireBytes } from '../../shared/src/byte-budget.js';
import { assembleEntrance } from './assemble.js';
import type { EntranceServices } from './context.js';
import { createEntranceHttp } from './http/server.js';
import { websocketPath } from './own-info.js';
import { createPeerConnections } from './peer-connection.js';
import { createUpgradeHandler } from './upgrade.js';
import { createDashboard } from './dashboard/routes.js';
import { EnrolmentGate } from './enrolment/gate.js';
import { createDnsServer } from './dns/server.js';
import type { DnsServer } from './dns/server.js';
import { RedisZoneRecords } from './dns/box-records.js';
import { zoneNameServer } from './dns/answer.js';
import type { ReleaseKeys } from '../../shared/src/release/trusted-keys.js';

const PING_INTERVAL_MS = 30_000;
/** Largest messages one socket may hold at once: a box and a publisher each wait for every reply. */
const MESSAGES_PER_SOCKET = 2;

export interface EntranceDeps {
  config: EntranceConfig;
  id: string;
  redis: Redis;
  log: Logger;
  now?: () => number;
  /** The release keys uploads are checked with (assemble.ts); tests name their own. */
  releaseKeys?: () => ReleaseKeys;
}

export interface Entrance {
  services: EntranceServices;
  server: http.Server;
  /**
   * Listen on ENTRANCE_IP:ENTRANCE_PORT, and with BOX_DOMAIN serve its DNS on DNS_BIND:DNS_PORT; resolves
   * with the URL boxes and publishers should use and the DNS port (absent without BOX_DOMAIN).
   */
  listen(): Promise<{ port: number; url: string; dnsPort?: number }>;
  /** One round of background work: sweep expired boxes, reload ENTRANCE_URLS, refresh OWN_INFO and the fleet's live entrances. */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

export function createEntrance(deps: EntranceDeps): Entrance {
  const { config, id, redis, log } = deps;
  const { identity, ctx, services, challenges, revocations, background, liveEntrances, ownKeys } = assembleEntrance({ ...deps, openSockets: () => wss.clients.size });
  const { keys, metrics, enrolment } = services;

  const wsPath = websocketPath(config);
  const gate = new EnrolmentGate({
    store: enrolment, publishers: services.publisherAccounts, challenges, requireEnrolment: config.REQUIRE_ENROLMENT, requirePublisherAuth: config.REQUIRE_PUBLISHER_AUTH, wsPath, log: log.child({ mod: 'enrolment' }),
  });
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

  const upgrade = createUpgradeHandler({
    wsPath, gate, addresses, wss, trustedProxies: services.trustedProxies, metrics, log: socketLog,
    accepting: () => accepting,
    onConnection(ws, remoteIp, peerId) {
      wss.emit('connection', ws);
      acceptPeer(ws, remoteIp, peerId);
    },
  });
  const dashboard = createDashboard(services, deps.now);
  const dns: DnsServer | undefined = config.BOX_DOMAIN === '' ? undefined : createDnsServer({
    zone: { domain: config.BOX_DOMAIN, nameServer: zoneNameServer(config.BOX_DOMAIN, config.ENTRANCE_URL), records: new RedisZoneRecords(redis, keys, deps.now) },
    host: config.DNS_BIND, port: config.DNS_PORT, log: log.child({ mod: 'dns' }),
  });
  const web = createEntranceHttp({ services, dashboard, gate, wsPath, onUpgrade: upgrade, fleetKeys: async () => (await ctx.trust.boxFields())?.FLEET_KEYS });
  // Behind a TCP balancer that sends the PROXY protocol: its header, read at accept, names each peer.
  const proxyAccept = config.PROXY_PROTOCOL_FROM.length === 0 ? undefined
    : requireProxyHeaders(web.server, { from: trustedProxies(config.PROXY_PROTOCOL_FROM), log: log.child({ mod: 'proxy-protocol' }) });

  return {
    services,
    server: web.server,
    async tick() {
      await background.tick();
      await liveEntrances.tick();
    },
    async listen() {
      if (config.ENTRANCE_OTHER_URLS.length > 0) await redis.sadd(ownKeys.entranceUrls, ...config.ENTRANCE_OTHER_URLS);
      await challenges.load();
      await revocations.start();
      const port = await web.listen(config.ENTRANCE_IP, config.ENTRANCE_PORT, { port: 'ENTRANCE_PORT', host: 'ENTRANCE_IP' });
      identity.listeningOn(port);
      const dnsPort = await dns?.listen();
      await background.tick();
      background.start();
      await liveEntrances.tick();
      liveEntrances.start();
      const { URL: url } = identity.ownInfo();
      log.info({ id, url, port }, 'entrance listening');
      return dnsPort === undefined ? { port, url } : { port, url, dnsPort };
    },
    async stop() {
      accepting = false;
      background.stop();
      await liveEntrances.stop();
      stopKeepAlive();
      dashboard.stop();
      await closeAll(wss, 'entrance shutting down');
      proxyAccept?.close();
      await web.close();
      await dns?.stop();
      revocations.stop();
    },
  };
}
