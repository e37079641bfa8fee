/**
 * Boxes this publisher caught serving other bytes than it sent (an audit fetched a copy back and its
 * SHA-256 differed). A quarantined box is never listed to viewers or sent files again while this
 * publisher runs. Each verdict rides along in SEARCH (QUARANTINE) until an entrance has answered a
 * SEARCH that carried it (the entrance stores it before it replies), so the entrance leaves the box out
 * for every publisher; it is not repeated after that, so an operator who clears the quarantine at the
 * entrance is not overruled by the next SEARCH.
 */
import { MAX_QUARANTINE_PER_SEARCH } from '../../../shared/src/protocol/index.js';
import type { QuarantineReport } from '../../../shared/src/protocol/index.js';

/** Boxes remembered; beyond this the oldest verdict is forgotten (the entrance still has it). */
const MAX_REMEMBERED = 1_000;

export class QuarantinedBoxes {
  private readonly boxes = new Map<string, QuarantineReport & { told: boolean }>();

  /** Quarantine `boxId`; false when it already was. */
  add(boxId: string, reason: string, path: string): boolean {
    if (this.boxes.has(boxId)) return false;
    this.boxes.set(boxId, { BOX_ID: boxId, REASON: reason.slice(0, 300), PATH: path.slice(0, 2048), told: false });
    if (this.boxes.size > MAX_REMEMBERED) {
      const oldest = this.boxes.keys().next();
      if (!oldest.done) this.boxes.delete(oldest.value);
    }
    return true;
  }

  has(boxId: string): boolean {
    return this.boxes.has(boxId);
  }

  /** What the next SEARCH tells the entrance: verdicts no entrance has taken yet, newest first. */
  untold(): QuarantineReport[] {
    return [...this.boxes.values()]
      .filter((b) => !b.told)
      .reverse()
      .slice(0, MAX_QUARANTINE_PER_SEARCH)
      .map(({ BOX_ID, REASON, PATH }) => ({ BOX_ID, REASON, PATH }));
  }

  /** An entrance answered the SEARCH that carried these. */
  told(reports: readonly QuarantineReport[]): void {
    for (const r of reports) {
      const b = this.boxes.get(r.BOX_ID);
      if (b) b.told = true;
    }
  }
}
