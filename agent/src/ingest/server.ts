/**
 * The box's WebSocket endpoint for publishers, at /dandelion/<box-id>/ws/ (directly on BOX_PORT, or
 * through nginx's proxy): admits upgrades within the per-address and byte budgets, hands each socket to
 * publisher-session.ts (the PUBLISH handshake and the files), and stops in order. Plain requests get the
 * box's identity at /dandelion/.
 */
import { listenOn } from '../../../shared/src/listen.js';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { createGuardedServer, refuseUpgrade } from '../../../shared/src/http-guard.js';
import type { RequestHandler } from '../../../shared/src/http-guard.js';
import { createRouter } from '../../../shared/src/http-router.js';
import type { RouteTable } from '../../../shared/src/http-router.js';
import type { Redis } from 'ioredis';
import { WebSocketServer } from 'ws';
import type { Logger } from '../../../shared/src/log.js';
import { MAX_HEADER_BYTES } from '../../../shared/src/protocol/index.js';
import type { Envelope } from '../../../shared/src/protocol/index.js';
import type { BoxKeys } from '../../../shared/src/redis-keys.js';
import { buildInfo } from '../../../shared/src/version.js';
import { closeAll, keepAlive } from '../../../shared/src/ws-server.js';
import { LOOPBACK_PROXIES, remoteIpOf } from '../../../shared/src/peer-address.js';
import { AddressLimits } from '../../../shared/src/address-limits.js';
import { ByteBudget, FRAMES_IN_FLIGHT, wireBytes } from '../../../shared/src/byte-budget.js';
import type { FileStore } from './store.js';
import type { BoxTrust } from '../trust/box-trust.js';
import { createPublisherRecords } from './publisher-records.js';
import { servePublisher } from './publisher-session.js';
import type { SessionContext } from './publisher-session.js';

const PING_INTERVAL_MS = 30_000;

export interface IngestDeps {
  boxId: string;
  redis: Redis;
  keys: BoxKeys;
  store: FileStore;
  /** What PUBLISH grants are checked against (fleet keys, revoked publishers). */
  trust: BoxTrust;
  maxFileBytes: number;
  /** Bytes all publishers' sockets may hold together, received but not yet stored (raised to one frame if lower). */
  maxBufferedBytes: number;
  /** Most sockets one address may have open. */
  socketsPerAddress: number;
  /** Most handshakes one address may start in a second. */
  handshakesPerSecond: number;
  defaultTtlSeconds: number;
  /** PUBLISHER_RECORD_TTL and MAX_PUBLISHER_RECORDS: how long and how many publishers' records are kept. */
  publisherRecordTtlSeconds: number;
  maxPublisherRecords: number;
  own(): Envelope;
  log: Logger;
  /** Called after every stored file (metrics, FILES-HELD). */
  onStored?(size: number): void;
  /** Called for every file answered with ERROR, with its ERROR_CODE (metrics). */
  onRefused?(code: string): void;
  /** More plain-HTTP routes besides /dandelion/ (the household's settings). */
  routes?: RouteTable;
}

export interface IngestServer {
  server: http.Server;
  listen(host: string, port: number): Promise<number>;
  /** Stop taking files, let writes in flight finish, close publishers' sockets with 1001. */
  stop(): Promise<void>;
}

export function createIngestServer(deps: IngestDeps): IngestServer {
  const { log } = deps;
  const wsPath = `/dandelion/${deps.boxId}/ws`;
  const server = createGuardedServer({ log, onRequest: createRouter({ ...indexRoutes(deps.boxId, wsPath), ...deps.routes }), onUpgrade: upgrade });
  // One frame holds a whole file plus its header: the limit that matters, refused with 1009 beyond it.
  // permessage-deflate stays off (ws's default for servers, said here so it stays so): inflating is where
  // a small compressed frame would grow past every byte budget.
  const maxPayload = deps.maxFileBytes + MAX_HEADER_BYTES + 64;
  const wss = new WebSocketServer({ noServer: true, maxPayload, perMessageDeflate: false });
  // One socket holds at most one such frame: a publisher may send several files before their replies only
  // while they add up to no more than the largest one.
  const socketBytes = wireBytes(maxPayload);
  const budget = new ByteBudget({ totalBytes: Math.max(deps.maxBufferedBytes, socketBytes), socketBytes, framesInFlight: FRAMES_IN_FLIGHT });
  const addresses = new AddressLimits({ socketsPerAddress: deps.socketsPerAddress, handshakesPerSecond: deps.handshakesPerSecond, busy: () => budget.exhausted });
  const stopKeepAlive = keepAlive(wss, PING_INTERVAL_MS);
  const records = createPublisherRecords({ redis: deps.redis, keys: deps.keys, ttlSeconds: deps.publisherRecordTtlSeconds, maxRecords: deps.maxPublisherRecords });
  const inFlight = new Set<Promise<unknown>>();
  let stopping = false;
  const session: SessionContext = {
    ...deps, records, budget,
    stopping: () => stopping,
    track(write) {
      inFlight.add(write);
      return write.finally(() => inFlight.delete(write));
    },
  };

  function upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, url: URL): void {
    const pathname = url.pathname.replace(/\/+$/, '');
    if (stopping) return refuseUpgrade(socket, 503, { ERROR: 'the box is shutting down', ERROR_CODE: 'E_SHUTTING_DOWN' });
    if (pathname !== wsPath) return refuseUpgrade(socket, 404, { ERROR: `no WebSocket here; publishers connect to ${wsPath}/`, ERROR_CODE: 'E_NOT_FOUND' });
    if (!addresses.admit(publisherIp(req), socket)) return;
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  }
  // An event, not a direct call: keepAlive listens for 'connection' too.
  wss.on('connection', (ws, req: http.IncomingMessage) => servePublisher(ws, publisherIp(req), session));

  return {
    server,
    async listen(host, port) {
      const adopted = await records.adoptUnindexed();
      if (adopted > 0) log.info({ records: adopted }, 'publisher records without a TTL (from an earlier version) now expire');
      return listenOn(server, host, port, { port: 'BOX_PORT', host: 'BOX_SERVER_IP' });
    },
    async stop() {
      stopping = true;
      stopKeepAlive();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.allSettled([...inFlight]);
      await closeAll(wss, 'box shutting down');
      server.closeAllConnections();
      await closed;
    },
  };
}

/**
 * The publisher's address: the box's own nginx proxies /dandelion/<box>/ws/ here and names the
 * publisher in its headers; only that local proxy is believed.
 */
function publisherIp(req: http.IncomingMessage): string {
  return remoteIpOf(req, LOOPBACK_PROXIES);
}

/** GET /dandelion/ (any method, with or without the slash): who this box is and where publishers connect. */
function indexRoutes(boxId: string, wsPath: string): RouteTable {
  const index: RequestHandler = (_req, res) => {
    const body = JSON.stringify({ ID: boxId, TYPE: 'BOX', VERSION: buildInfo().version, CONNECT_WS: `${wsPath}/` });
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    res.end(body);
  };
  return { '/dandelion/': { '*': index }, '/dandelion': { '*': index } };
}
