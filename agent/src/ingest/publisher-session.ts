/**
 * One publisher's socket after the upgrade: the PUBLISH handshake, then one FILE reply per <Dandelion>
 * frame (ACCEPTED with SIZE and SHA256 once the file is durable and servable, or ERROR saying why). A
 * refused file leaves the socket open; what the message loop cannot decode closes it.
 */
import type { WebSocket } from 'ws';
import type { Logger } from '../../../shared/src/log.js';
import type { ByteBudget } from '../../../shared/src/byte-budget.js';
import { ProtocolError, checkFrameHeader, isProtocolError, splitFrame } from '../../../shared/src/protocol/index.js';
import type { Envelope, FileReply, PublishReply, PublishRequest } from '../../../shared/src/protocol/index.js';
import { attachMessageLoop } from '../../../shared/src/ws-server.js';
import type { PublisherRecords } from './publisher-records.js';
import type { FileStore } from './store.js';

export interface SessionContext {
  own(): Envelope;
  store: FileStore;
  records: PublisherRecords;
  budget: ByteBudget;
  defaultTtlSeconds: number;
  maxPublisherRecords: number;
  /** True once the box is stopping: new handshakes and files are refused. */
  stopping(): boolean;
  /** Tracks a write in flight until it settles, so stop() can wait for it. */
  track<T>(write: Promise<T>): Promise<T>;
  log: Logger;
  onStored?(size: number): void;
  onRefused?(code: string): void;
}

/** Runs the publisher protocol on `ws` until it closes. */
export function servePublisher(ws: WebSocket, remoteIp: string, ctx: SessionContext): void {
  const { log } = ctx;
  let publisher: PublishRequest | undefined;
  attachMessageLoop(ws, remoteIp, {
    own: ctx.own,
    log,
    budget: ctx.budget,
    async onMessage(decoded) {
      if (decoded.kind !== 'PUBLISH') throw new ProtocolError('E_COMMAND', `a box answers PUBLISH from publishers, not ${decoded.kind}`);
      if (ctx.stopping()) throw new ProtocolError('E_SHUTTING_DOWN', 'the box is shutting down');
      publisher = decoded.msg;
      // SUBSCRIBE is the README's key for a publisher; the original also kept its message under EXCHANGE.
      const dropped = await ctx.records.subscribe(publisher);
      if (dropped > 0) log.warn({ dropped, max: ctx.maxPublisherRecords }, 'MAX_PUBLISHER_RECORDS reached: records of the publishers seen longest ago dropped');
      log.info({ publisher: publisher.ID, peer: remoteIp }, 'publisher subscribed');
      const reply: PublishReply = { ...ctx.own(), TYPE: 'BOX', COMMAND: 'PUBLISH', MESSAGE: 'ACCEPTED' };
      return reply;
    },
    async onBinary(data) {
      const { raw, content } = splitFrame(data);
      if (typeof raw.FILE_PATH !== 'string' || raw.FILE_PATH === '') throw new ProtocolError('E_FORMAT', 'FILE_PATH is missing or empty');
      const asSent = raw.FILE_PATH.slice(0, 1024);
      try {
        if (publisher === undefined) throw new ProtocolError('E_HANDSHAKE', 'send PUBLISH before files');
        return fileReply(ctx, asSent, await storeFile(ctx, publisher, raw, content));
      } catch (err) {
        return fileReply(ctx, asSent, refusal(ctx, err, publisher?.ID, asSent));
      }
    },
  });
}

/** Stores one frame's file for `publisher`; resolves with the ACCEPTED reply's fields. */
async function storeFile(ctx: SessionContext, publisher: PublishRequest, raw: Record<string, unknown>, content: Buffer): Promise<Partial<FileReply>> {
  if (ctx.stopping()) throw new ProtocolError('E_SHUTTING_DOWN', 'the box is shutting down');
  const header = checkFrameHeader(raw, ctx.defaultTtlSeconds);
  const stored = await ctx.track(ctx.store.write(publisher.ID, header.FILE_PATH, content, header.TTL));
  ctx.onStored?.(stored.size);
  // The record is informational: a failure to extend it must not turn a stored file into an error.
  await ctx.records.fileStored(publisher.ID, header.TTL).catch((err: unknown) => ctx.log.warn({ err, publisher: publisher.ID }, 'publisher record not extended'));
  ctx.log.debug({ publisher: publisher.ID, file: stored.relativePath, size: stored.size }, 'file stored');
  return { MESSAGE: 'ACCEPTED', SIZE: stored.size, SHA256: stored.sha256 };
}

/** The ERROR reply's fields for a refused file: the coded reason, or E_INTERNAL for the box's own failure. */
function refusal(ctx: SessionContext, err: unknown, publisherId: string | undefined, file: string): Partial<FileReply> {
  if (isProtocolError(err)) {
    ctx.log.info({ publisher: publisherId, file, code: err.code, reason: err.message }, 'file refused');
    ctx.onRefused?.(err.code);
    return { ERROR: err.message, ERROR_CODE: err.code };
  }
  ctx.log.error({ err, publisher: publisherId, file }, 'file not stored');
  ctx.onRefused?.('E_INTERNAL');
  return { ERROR: 'the box failed to store the file; try again or another box', ERROR_CODE: 'E_INTERNAL' };
}

function fileReply(ctx: SessionContext, filePath: string, fields: Partial<FileReply>): FileReply {
  return { ...ctx.own(), TYPE: 'BOX', COMMAND: 'FILE', FILE_PATH: filePath, ...fields };
}
