/**
 * Audits: the publisher fetches a copy back from the box that confirmed it, through the box's viewer
 * URL exactly as a viewer would, and compares its SHA-256 with what it sent. This is what protects
 * players that cannot verify segments themselves (native HLS on Safari): a box owner has root on the
 * box and can change a stored file after the box confirmed it.
 *
 * A sampled audit (AUDIT_RATE of the confirmed copies) runs a few seconds after the copy was confirmed,
 * at a random moment, so a box cannot tell an audit from the viewers fetching the same live segment. A
 * viewer's report (/report) audits that copy at once. Only a complete answer with other bytes is a
 * mismatch; a box that cannot be reached or answers an error is not (losing boxes is the pool's job).
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../../../shared/src/log.js';
import { messageOf } from '../../../shared/src/protocol/index.js';
import type { FileIndex } from '../upload/file-index.js';

const DELAY_MIN_MS = 2_000;
const DELAY_SPREAD_MS = 6_000;
const FETCH_TIMEOUT_MS = 10_000;
/** Sampled audits waiting at once; more are skipped (a burst of copies must not become a burst of fetches). */
const MAX_WAITING = 200;

export type AuditResult = 'match' | 'mismatch' | 'unknown';

export interface AuditorDeps {
  index: FileIndex;
  /** AUDIT_RATE: the fraction of confirmed copies audited. */
  rate: number;
  log: Logger;
  /** A box served other bytes than were sent: `reason` says how they differed. */
  onMismatch(boxId: string, reason: string, path: string): void;
  random?: () => number;
}

export class Auditor {
  private readonly waiting = new Set<NodeJS.Timeout>();
  /** Audits running now, by box and file, so repeated reports of one copy fetch it once. */
  private readonly running = new Map<string, Promise<AuditResult>>();
  private stopped = false;

  constructor(private readonly deps: AuditorDeps) {}

  /** A box confirmed a copy: audit it later with probability AUDIT_RATE. */
  sample(boxId: string, path: string): void {
    const random = this.deps.random ?? Math.random;
    if (this.stopped || this.deps.rate <= 0 || random() >= this.deps.rate || this.waiting.size >= MAX_WAITING) return;
    const timer = setTimeout(() => {
      this.waiting.delete(timer);
      void this.audit(boxId, path);
    }, DELAY_MIN_MS + random() * DELAY_SPREAD_MS);
    timer.unref();
    this.waiting.add(timer);
  }

  /** Fetch the box's copy of `path` now and compare it. */
  audit(boxId: string, path: string): Promise<AuditResult> {
    const key = `${boxId}\n${path}`;
    let result = this.running.get(key);
    if (result === undefined) {
      result = this.check(boxId, path).finally(() => this.running.delete(key));
      this.running.set(key, result);
    }
    return result;
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.waiting) clearTimeout(timer);
    this.waiting.clear();
  }

  private async check(boxId: string, path: string): Promise<AuditResult> {
    const file = this.deps.index.get(path);
    const url = file?.replicas.get(boxId);
    const expected = file?.sha256;
    if (this.stopped || url === undefined || expected === undefined) return 'unknown';
    let body: Buffer;
    try {
      // redirect 'error': a box answers its own files; one that sends the auditor elsewhere proves nothing.
      const res = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), headers: { 'cache-control': 'no-cache' } });
      if (res.status !== 200) {
        await res.body?.cancel();
        this.deps.log.debug({ box: boxId, file: path, status: res.status }, 'audit: the box did not serve the file');
        return 'unknown';
      }
      body = Buffer.from(await res.arrayBuffer());
    } catch (err) {
      this.deps.log.debug({ box: boxId, file: path, err: messageOf(err) }, 'audit: the box could not be fetched from');
      return 'unknown';
    }
    const got = createHash('sha256').update(body).digest('hex');
    if (got === expected) return 'match';
    const reason = `served SHA-256 ${got.slice(0, 16)}… (${body.length} bytes) for a file sent as ${expected.slice(0, 16)}… (${file?.size ?? '?'} bytes)`;
    this.deps.log.warn({ box: boxId, file: path, reason }, 'audit: the box serves altered content; quarantining it');
    this.deps.onMismatch(boxId, reason, path);
    return 'mismatch';
  }
}
