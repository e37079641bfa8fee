/**
 * The box's WebSocket endpoint for publishers, at /dandelion/<box-id>/ws/ (directly on BOX_PORT, or
 * through nginx's proxy). A publisher does the PUBLISH handshake, then sends files as <Dandelion>
 * frames; every frame is answered with one FILE reply: ACCEPTED with SIZE and SHA256 once the file is
 * durable and servable, or ERROR saying why. A refused file leaves the socket open; an unreadable frame
 * (no header) closes it, as any malformed message does.
 */
import { listenOn } from '../../../shared/src/listen.js';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { createGuardedServer, refuseUpgrade, sendRefusal } from '../../../shared/src/http-guard.js';
import type { Redis } from 'ioredis';
import { WebSocketServer } from 'ws';
import type { Logger } from '../../../shared/src/log.js';
import { MAX_HEADER_BYTES, ProtocolError, checkFrameHeader, isProtocolError, splitFrame } from '../../../shared/src/protocol/index.js';
import type { Envelope, FileReply, PublishReply, PublishRequest } from '../../../shared/src/protocol/index.js';
import type { BoxKeys } from '../../../shared/src/redis-keys.js';
import { buildInfo } from '../../../shared/src/version.js';
import { attachMessageLoop, closeAll, keepAlive } from '../../../shared/src/ws-server.js';
import { LOOPBACK_PROXIES, remoteIpOf } from '../../../shared/src/peer-address.js';
import { AddressLimits } from '../../../shared/src/address-limits.js';
import { ByteBudget, FRAMES_IN_FLIGHT, wireBytes } from '../../../shared/src/byte-budget.js';
import type { FileStore } from './store.js';
import { createPublisherRecords } from './publisher-records.js';

const PING_INTERVAL_MS = 30_000;

export interface IngestDeps {
  boxId: string;
  redis: Redis;
  keys: BoxKeys;
  store: FileStore;
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
  const server = createGuardedServer({
    log,
    onRequest(_req, res, url) {
      if (url.pathname !== '/dandelion/' && url.pathname !== '/dandelion') return sendRefusal(res, 404, { ERROR: 'not found', ERROR_CODE: 'E_NOT_FOUND' });
      const body = JSON.stringify({ ID: deps.boxId, TYPE: 'BOX', VERSION: buildInfo().version, CONNECT_WS: `${wsPath}/` });
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
      res.end(body);
    },
    onUpgrade: upgrade,
  });
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

  function upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, url: URL): void {
    const pathname = url.pathname.replace(/\/+$/, '');
    if (stopping) return refuseUpgrade(socket, 503, { ERROR: 'the box is shutting down', ERROR_CODE: 'E_SHUTTING_DOWN' });
    if (pathname !== wsPath) return refuseUpgrade(socket, 404, { ERROR: `no WebSocket here; publishers connect to ${wsPath}/`, ERROR_CODE: 'E_NOT_FOUND' });
    if (!addresses.admit(publisherIp(req), socket)) return;
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  }

  wss.on('connection', (ws, req: http.IncomingMessage) => {
    const remoteIp = publisherIp(req);
    let publisher: PublishRequest | undefined;

    const fileReply = (filePath: string, fields: Partial<FileReply>): FileReply => ({ ...deps.own(), TYPE: 'BOX', COMMAND: 'FILE', FILE_PATH: filePath, ...fields });

    attachMessageLoop(ws, remoteIp, {
      own: deps.own,
      log,
      budget,
      async onMessage(decoded) {
        if (decoded.kind !== 'PUBLISH') throw new ProtocolError('E_COMMAND', `a box answers PUBLISH from publishers, not ${decoded.kind}`);
        if (stopping) throw new ProtocolError('E_SHUTTING_DOWN', 'the box is shutting down');
        publisher = decoded.msg;
        // SUBSCRIBE is the README's key for a publisher; the original also kept its message under EXCHANGE.
        const dropped = await records.subscribe(publisher);
        if (dropped > 0) log.warn({ dropped, max: deps.maxPublisherRecords }, 'MAX_PUBLISHER_RECORDS reached: records of the publishers seen longest ago dropped');
        log.info({ publisher: publisher.ID, peer: remoteIp }, 'publisher subscribed');
        const reply: PublishReply = { ...deps.own(), TYPE: 'BOX', COMMAND: 'PUBLISH', MESSAGE: 'ACCEPTED' };
        return reply;
      },
      async onBinary(data) {
        const { raw, content } = splitFrame(data);
        if (typeof raw.FILE_PATH !== 'string' || raw.FILE_PATH === '') throw new ProtocolError('E_FORMAT', 'FILE_PATH is missing or empty');
        const asSent = raw.FILE_PATH.slice(0, 1024);
        try {
          if (publisher === undefined) throw new ProtocolError('E_HANDSHAKE', 'send PUBLISH before files');
          if (stopping) throw new ProtocolError('E_SHUTTING_DOWN', 'the box is shutting down');
          const header = checkFrameHeader(raw, deps.defaultTtlSeconds);
          const writing = deps.store.write(publisher.ID, header.FILE_PATH, content, header.TTL);
          inFlight.add(writing);
          const stored = await writing.finally(() => inFlight.delete(writing));
          deps.onStored?.(stored.size);
          // The record is informational: a failure to extend it must not turn a stored file into an error.
          await records.fileStored(publisher.ID, header.TTL).catch((err: unknown) => log.warn({ err, publisher: publisher?.ID }, 'publisher record not extended'));
          log.debug({ publisher: publisher.ID, file: stored.relativePath, size: stored.size }, 'file stored');
          return fileReply(asSent, { MESSAGE: 'ACCEPTED', SIZE: stored.size, SHA256: stored.sha256 });
        } catch (err) {
          if (isProtocolError(err)) {
            log.info({ publisher: publisher?.ID, file: asSent, code: err.code, reason: err.message }, 'file refused');
            deps.onRefused?.(err.code);
            return fileReply(asSent, { ERROR: err.message, ERROR_CODE: err.code });
          }
          log.error({ err, publisher: publisher?.ID, file: asSent }, 'file not stored');
          deps.onRefused?.('E_INTERNAL');
          return fileReply(asSent, { ERROR: 'the box failed to store the file; try again or another box', ERROR_CODE: 'E_INTERNAL' });
        }
      },
    });
  });

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
