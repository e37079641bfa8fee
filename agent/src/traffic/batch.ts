/**
 * What one read of the access log turns into: a TRAFFIC_FLOW record per served line (status < 400, as the
 * original kept) up to the batch's record allowance (record-budget.ts), and one aggregate per (publisher,
 * file) counting every line. Pure: the tail reads bytes and writes Redis.
 */
import { parseViewerPath } from '../../../shared/src/viewer-url.js';
import type { TrafficAggregate, TrafficRecord } from '../../../shared/src/protocol/messages.js';
import { forEachAccessLogLine } from './log-format.js';
import type { AccessLogLine } from './log-format.js';

/** The original counted only these; 4xx and 5xx lines still add to the bytes the box sent. */
const SERVED_BELOW = 400;
/** A response from here up is the box's own failure (SERVE-ERRORS, a rollout's health), not the viewer's. */
const SERVER_ERROR_FROM = 500;
/** How much of a skipped line a warning quotes. */
const SAMPLE_CHARS = 200;

type Group = Omit<TrafficAggregate, 'ID'> & { firstRid: string };

export class TrafficBatch {
  /** Complete lines seen, parsed or not. */
  lines = 0;
  /** Lines (or over-long fragments) that did not parse. */
  skipped = 0;
  /** The first skipped text, cut short, for the warning. */
  skippedSample: string | undefined;
  /** $bytes_sent of every parsed line, whatever its status. */
  bytesSent = 0;
  /** Parsed lines with a status ≥ 500. */
  serverErrors = 0;
  readonly records: Array<{ rid: string; record: TrafficRecord }> = [];
  /** Served lines past the record allowance: counted in the aggregates, stored as no record. */
  recordsNotKept = 0;
  /** Insertion order is first appearance in the log, which makes aggregate IDs stable. */
  private readonly groups = new Map<string, Group>();
  private readonly keyOfUri = new Map<string, string>();

  /** `recordAllowance`: most TRAFFIC_FLOW records this batch keeps (the aggregates count every line). */
  constructor(private readonly recordAllowance = Infinity) {}

  /** `text` holds complete lines without their final "\n". */
  addLines(text: string): void {
    forEachAccessLogLine(text, (line, lineText) => this.add(line, lineText));
  }

  /** One line: `line` parsed from `text`, or undefined when `text` is not an access-log line. */
  private add(line: AccessLogLine | undefined, text: string): void {
    this.lines++;
    if (!line) {
      this.skip(text);
      return;
    }
    this.bytesSent += line.bytes;
    if (line.status >= SERVER_ERROR_FROM) this.serverErrors++;
    if (line.status >= SERVED_BELOW) return;
    if (this.records.length < this.recordAllowance) this.records.push({ rid: line.rid, record: { datetime: line.time, url: line.uri, status: line.status, size: line.bytes } });
    else this.recordsNotKept++;
    // Viewers ask for the same few URIs again and again: decode each once per batch.
    let key = this.keyOfUri.get(line.uri);
    let where: { publisher: string; file: string } | undefined;
    if (key === undefined) {
      where = parseViewerPath(line.uri);
      key = JSON.stringify([where.publisher, where.file]);
      this.keyOfUri.set(line.uri, key);
    }
    const group = this.groups.get(key);
    if (group) {
      group.REQUESTS++;
      group.BYTES += line.bytes;
      group.FROM = Math.min(group.FROM, line.msec);
      group.TO = Math.max(group.TO, line.msec);
    } else {
      const { publisher, file } = where ?? parseViewerPath(line.uri);
      this.groups.set(key, { PUBLISHER: publisher, FILE: file, REQUESTS: 1, BYTES: line.bytes, FROM: line.msec, TO: line.msec, firstRid: line.rid });
    }
  }

  /** Text that is not a line (a chunk with no newline at all) — consumed and counted as skipped. */
  skip(text: string): void {
    this.skipped++;
    this.skippedSample ??= text.slice(0, SAMPLE_CHARS);
  }

  /**
   * The aggregates, IDs `<where>:<n>:<rid8>`: `where` names the bytes read (inode and offsets), n the
   * aggregate's place in the batch, and the first 8 hex digits of its first request's $request_id keep
   * IDs unique when a later log file reuses a freed inode and starts again at offset 0.
   */
  aggregates(where: string): TrafficAggregate[] {
    return [...this.groups.values()].map(({ firstRid, ...group }, n) => ({ ID: `${where}:${n}:${firstRid.slice(0, 8)}`, ...group }));
  }
}
