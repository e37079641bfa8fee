/**
 * Sends each file to REPLICAS distinct boxes, best ranked first. A copy counts only when the box's
 * FILE reply confirms the size and SHA-256 the publisher computed; a refusal, a wrong hash, a timeout
 * or a lost socket moves that copy to the next box. When too few boxes are ready it waits briefly for
 * the pool to open more and tries again, a few times, before giving up on the missing copies.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../../../shared/src/log.js';
import { encodeFrame, messageOf } from '../../../shared/src/protocol/index.js';
import { viewerUrl } from '../../../shared/src/viewer-url.js';
import type { BoxConnection } from '../boxes/box-connection.js';
import type { BoxPool } from '../boxes/pool.js';
import type { FileIndex } from './file-index.js';

const ROUNDS = 4;
const ROUND_PAUSE_MS = 1_000;

export interface Delivery {
  filePath: string;
  confirmed: string[];
  failed: Array<{ boxId: string; reason: string }>;
}

export interface ReplicatorDeps {
  pool: BoxPool;
  index: FileIndex;
  publisherId: string;
  replicas: number;
  log: Logger;
  /** A box failed a send: the caller may search again. */
  onBoxFailed?(boxId: string): void;
  /** A box received a copy of `bytes` bytes and answered it, confirming or refusing (metrics). */
  onSent?(boxId: string, bytes: number): void;
  /** A box confirmed its copy (metrics). */
  onCopyConfirmed?(boxId: string, bytes: number): void;
  /** A confirmed copy is now listed to viewers (audits sample these). */
  onCopyListed?(boxId: string, filePath: string): void;
  /**
   * A copy failed (metrics): `code` is the box's ERROR_CODE when it refused the file, E_MISMATCH when it
   * confirmed other bytes, E_NO_URL when it gave no HTTP_URL, E_SEND when the socket failed or timed out.
   */
  onCopyFailed?(boxId: string, code: string): void;
}

export class Replicator {
  constructor(private readonly deps: ReplicatorDeps) {}

  /**
   * Deliver `content` as FILE_PATH `filePath` with TTL `ttlSeconds`. `resume`: copies of these very bytes
   * that PROCESSED_FILES already lists count as confirmed and are not sent again (a task a killed
   * publisher left half done).
   */
  async deliver(filePath: string, content: Buffer, ttlSeconds: number, opts: { onSend?: (conn: BoxConnection) => void; resume?: boolean } = {}): Promise<Delivery> {
    const { pool, index, log } = this.deps;
    const { onSend } = opts;
    const sha256 = createHash('sha256').update(content).digest('hex');
    index.hashed(filePath, ttlSeconds, content.length, sha256);
    // Encoded once for every box (a copy of the file each), not once per box.
    const frame = encodeFrame({ FILE_PATH: filePath, TTL: ttlSeconds }, content);
    const delivery: Delivery = { filePath, confirmed: [], failed: [] };
    const tried = new Set<string>();
    if (opts.resume) {
      for (const boxId of await index.recall(filePath, content.length, sha256, ttlSeconds)) {
        tried.add(boxId);
        delivery.confirmed.push(boxId);
      }
    }
    for (let round = 0; round < ROUNDS && delivery.confirmed.length < this.deps.replicas; round++) {
      if (round > 0) {
        await new Promise((r) => setTimeout(r, ROUND_PAUSE_MS));
        await pool.maintain();
      }
      let candidates = pool.ready().filter((c) => !tried.has(c.boxId));
      // Fill the missing copies in parallel; each failure pulls the next candidate in.
      const sendTo = async (conn: BoxConnection): Promise<void> => {
        tried.add(conn.boxId);
        const failure = await this.sendOne(conn, filePath, frame, content.length, ttlSeconds, sha256, onSend);
        if (failure === undefined) {
          delivery.confirmed.push(conn.boxId);
          this.deps.onCopyConfirmed?.(conn.boxId, content.length);
          return;
        }
        const { code, reason } = failure;
        delivery.failed.push({ boxId: conn.boxId, reason });
        this.deps.onCopyFailed?.(conn.boxId, code);
        log.warn({ box: conn.boxId, file: filePath, reason }, 'copy failed; trying another box');
        this.deps.onBoxFailed?.(conn.boxId);
        const next = candidates.shift();
        if (next) await sendTo(next);
      };
      const missing = this.deps.replicas - delivery.confirmed.length;
      const first = candidates.slice(0, missing);
      candidates = candidates.slice(missing);
      await Promise.all(first.map(sendTo));
    }
    if (delivery.confirmed.length < this.deps.replicas) {
      log.warn({ file: filePath, confirmed: delivery.confirmed.length, wanted: this.deps.replicas }, 'fewer copies than REPLICAS');
    }
    return delivery;
  }

  /** undefined when confirmed, else why not (a code for metrics, and words for the log). */
  private async sendOne(conn: BoxConnection, filePath: string, frame: Buffer, size: number, ttl: number, sha256: string, onSend?: (c: BoxConnection) => void): Promise<{ code: string; reason: string } | undefined> {
    try {
      const sending = conn.send(filePath, frame, size);
      onSend?.(conn);
      const reply = await sending;
      this.deps.onSent?.(conn.boxId, size); // the box answered, so it got every byte
      if (reply.ERROR !== undefined) return { code: reply.ERROR_CODE ?? 'E_REFUSED', reason: `${reply.ERROR_CODE ?? 'ERROR'}: ${reply.ERROR}` };
      if (reply.SIZE !== size || reply.SHA256 !== sha256) return { code: 'E_MISMATCH', reason: `box confirmed ${reply.SIZE} bytes / ${reply.SHA256}, sent ${size} / ${sha256}` };
      const known = this.deps.pool.get(conn.boxId);
      if (!known?.httpUrl) return { code: 'E_NO_URL', reason: 'box has no HTTP_URL' };
      const url = viewerUrl(known.httpUrl, this.deps.publisherId, filePath);
      await this.deps.index.confirm(filePath, conn.boxId, url, size, sha256, ttl);
      this.deps.onCopyListed?.(conn.boxId, filePath);
      return undefined;
    } catch (err) {
      return { code: 'E_SEND', reason: messageOf(err) };
    }
  }
}
