/**
 * What each SEARCH tells the entrance besides who this publisher is: its place (GEOIP), what its origin
 * served (so the entrance can tell how much the boxes offloaded), and the boxes its audits caught, which
 * count as told only once a reply to the SEARCH that carried them arrives.
 */
import type { QuarantineReport, SearchRequest } from '../../../shared/src/protocol/index.js';
import type { QuarantinedBoxes } from '../audit/quarantined-boxes.js';

export interface SearchRequestDeps {
  publisherId: string;
  ip: string;
  geoip: SearchRequest['GEOIP'];
  quarantined: QuarantinedBoxes;
  originBytes?: () => number | undefined;
}

export class SearchRequests {
  private readonly startedAt = Math.floor(Date.now() / 1000);
  /** What the SEARCH in flight (one at a time) told the entrance. */
  private quarantineSent: QuarantineReport[] = [];

  constructor(private readonly deps: SearchRequestDeps) {}

  next(): SearchRequest {
    const { publisherId, ip, geoip, quarantined, originBytes } = this.deps;
    const msg: SearchRequest = { ID: publisherId, IP: ip, TYPE: 'PUBLISHER', COMMAND: 'SEARCH' };
    if (geoip) msg.GEOIP = geoip;
    const origin = originBytes?.();
    if (origin !== undefined) {
      msg.ORIGIN_BYTES = origin;
      msg.ORIGIN_SINCE = this.startedAt;
    }
    this.quarantineSent = quarantined.untold();
    if (this.quarantineSent.length > 0) msg.QUARANTINE = this.quarantineSent;
    return msg;
  }

  /** A reply arrived: the verdicts its SEARCH carried are not sent again. */
  answered(): void {
    this.deps.quarantined.told(this.quarantineSent);
  }
}
