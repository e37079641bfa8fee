/**
 * Boxes this publisher caught serving other bytes than it sent (an audit fetched a copy back and its
 * SHA-256 differed). A quarantined box is never listed to viewers or sent files again while this
 * publisher runs, and the most recent ones ride along in every SEARCH (QUARANTINE) so the entrance
 * leaves them out for every publisher; the entrance keeps only its first record of each, so repeating
 * them costs it nothing.
 */
import { MAX_QUARANTINE_PER_SEARCH } from '../../../shared/src/protocol/index.js';
import type { QuarantineReport } from '../../../shared/src/protocol/index.js';

/** Boxes remembered; beyond this the oldest verdict is forgotten (the entrance still has it). */
const MAX_REMEMBERED = 1_000;
/** How long a verdict is repeated in SEARCH: long enough to reach every entrance this publisher fails over to. */
const REPEAT_MS = 10 * 60_000;

export class QuarantinedBoxes {
  private readonly boxes = new Map<string, QuarantineReport & { at: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Quarantine `boxId`; false when it already was. */
  add(boxId: string, reason: string, path: string): boolean {
    if (this.boxes.has(boxId)) return false;
    this.boxes.set(boxId, { BOX_ID: boxId, REASON: reason.slice(0, 300), PATH: path.slice(0, 2048), at: this.now() });
    if (this.boxes.size > MAX_REMEMBERED) {
      const oldest = this.boxes.keys().next();
      if (!oldest.done) this.boxes.delete(oldest.value);
    }
    return true;
  }

  has(boxId: string): boolean {
    return this.boxes.has(boxId);
  }

  /** What the next SEARCH tells the entrance: the most recent verdicts, newest first. */
  reports(): QuarantineReport[] {
    const since = this.now() - REPEAT_MS;
    return [...this.boxes.values()]
      .filter((b) => b.at >= since)
      .reverse()
      .slice(0, MAX_QUARANTINE_PER_SEARCH)
      .map(({ BOX_ID, REASON, PATH }) => ({ BOX_ID, REASON, PATH }));
  }
}
