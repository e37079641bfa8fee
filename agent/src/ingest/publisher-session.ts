/**
 * One publisher's socket after the upgrade: the PUBLISH handshake, then one FILE reply per <Dandelion>
 * frame (ACCEPTED with SIZE and SHA256 once the file is durable and servable, or ERROR saying why). A
 * refused file leaves the socket open; what the message loop cannot decode closes it. Frames a publisher
 * sends without waiting are stored at once, side by side, and answered in the order they came (a
 * publisher of the original protocol sends one and waits: nothing changes for it).
 *
 * When the box's entrance sends fleet keys, PUBLISH must carry a grant (trust/box-trust.ts): without a
 * valid one the socket is closed with E_AUTH before anything is recorded. Files then go under the grant's
 * publisher, within its quota, while the grant lasts; a publisher renews it by sending PUBLISH again.
 */
import type { WebSocket } from 'ws';
import type { Logger } from '../../../shared/src/log.js';
import type { ByteBudget } from '../../../shared/src/byte-budget.js';
import { ProtocolError, checkFrameHeader, isProtocolError, splitFrame } from '../../../shared/src/protocol/index.js';
import type { Envelope, FileReply, PublishReply, PublishRequest } from '../../../shared/src/protocol/index.js';
import type { Grant } from '../../../shared/src/trust/grant.js';
import { attachMessageLoop } from '../../../shared/src/ws-server.js';
import type { BoxTrust } from '../trust/box-trust.js';
import type { PublisherRecords } from './publisher-records.js';
import type { FileStore } from './store.js';

export interface SessionContext {
  own(): Envelope;
  store: FileStore;
  records: PublisherRecords;
  budget: ByteBudget;
  /** The fleet keys and revoked publishers grants are checked against. */
  trust: BoxTrust;
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
  let publisher: Admitted | undefined;
  attachMessageLoop(ws, remoteIp, {
    own: ctx.own,
    log,
    budget: ctx.budget,
    pipelineBinary: true,
    async onMessage(decoded) {
      if (decoded.kind !== 'PUBLISH') throw new ProtocolError('E_COMMAND', `a box answers PUBLISH from publishers, not ${decoded.kind}`);
      if (ctx.stopping()) throw new ProtocolError('E_SHUTTING_DOWN', 'the box is shutting down');
      const msg = decoded.msg;
      // Before anything is recorded: a stranger's PUBLISH leaves no trace but a log line.
      const grant = ctx.trust.required ? ctx.trust.admit(msg.ID, msg.GRANT) : undefined;
      publisher = grant === undefined ? { msg, id: msg.ID } : { msg, id: grant.PUBLISHER, grant };
      // SUBSCRIBE is the README's key for a publisher; the original also kept its message under EXCHANGE.
      const dropped = await ctx.records.subscribe(msg);
      if (dropped > 0) log.warn({ dropped, max: ctx.maxPublisherRecords }, 'MAX_PUBLISHER_RECORDS reached: records of the publishers seen longest ago dropped');
      log.info({ publisher: publisher.id, peer: remoteIp, grantExpires: grant?.EXPIRES }, 'publisher subscribed');
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
        return fileReply(ctx, asSent, refusal(ctx, err, publisher?.id, asSent));
      }
    },
  });
}

/** A socket's publisher after its PUBLISH: `id` is whom its files are stored under (the grant's publisher, when one is needed). */
interface Admitted {
  msg: PublishRequest;
  id: string;
  grant?: Grant;
}

/** E_AUTH unless the socket's grant still holds, or no grant is needed. */
function checkGrant(ctx: SessionContext, publisher: Admitted): void {
  if (publisher.grant !== undefined) ctx.trust.checkStillValid(publisher.grant);
  else if (ctx.trust.required) throw new ProtocolError('E_AUTH', 'this box now needs a grant: send PUBLISH again with the grant from your last SEARCH');
}

/**
 * Stores one frame's file for `publisher`; resolves with the ACCEPTED reply's fields. Nothing awaits
 * before store.write, so files take their path locks in arrival order (pipelineBinary).
 */
async function storeFile(ctx: SessionContext, publisher: Admitted, raw: Record<string, unknown>, content: Buffer): Promise<Partial<FileReply>> {
  if (ctx.stopping()) throw new ProtocolError('E_SHUTTING_DOWN', 'the box is shutting down');
  checkGrant(ctx, publisher);
  const header = checkFrameHeader(raw, ctx.defaultTtlSeconds);
  const stored = await ctx.track(ctx.store.write(publisher.id, header.FILE_PATH, content, header.TTL, publisher.grant?.QUOTA_BYTES ?? 0));
  ctx.onStored?.(stored.size);
  // The record is informational: a failure to extend it must not turn a stored file into an error.
  await ctx.records.fileStored(publisher.id, header.TTL).catch((err: unknown) => ctx.log.warn({ err, publisher: publisher.id }, 'publisher record not extended'));
  ctx.log.debug({ publisher: publisher.id, file: stored.relativePath, size: stored.size }, 'file stored');
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
