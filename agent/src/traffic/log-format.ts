/**
 * The access-log line nginx writes for every viewer request, and the parser for it. One JSON object per
 * line (escape=json makes any URI safe to embed); `rid` is nginx's $request_id, 32 random hex digits,
 * so every served request has an id the entrance can count once.
 */
import { isRecord } from '../../../shared/src/protocol/json.js';

export const LOG_FORMAT_NAME = 'dandelion';

export const LOG_FORMAT =
  `log_format ${LOG_FORMAT_NAME} escape=json ` +
  `'{"rid":"$request_id","time":"$time_local","msec":"$msec","method":"$request_method",` +
  `"uri":"$request_uri","status":"$status","bytes":"$bytes_sent","body":"$body_bytes_sent","addr":"$remote_addr"}';`;

/**
 * How nginx writes the log: lines gathered in a 64 KiB buffer, written when it fills or a second after
 * the oldest line, and on reopen (USR1) and exit. One write per request would cost nginx a system call
 * per playlist and the agent a file event per request; a second's delay is nothing next to the 5 s
 * heartbeat that reports the lines.
 */
export const LOG_BUFFERING = 'buffer=64k flush=1s';

export interface AccessLogLine {
  rid: string;
  /** nginx's $time_local, e.g. 27/Sep/2017:03:20:10 +0000 (the original's `datetime`). */
  time: string;
  /** Seconds since the epoch, with milliseconds. */
  msec: number;
  method: string;
  uri: string;
  status: number;
  /** Bytes sent to the viewer, headers included ($bytes_sent). */
  bytes: number;
  /** Bytes of the body ($body_bytes_sent). */
  body: number;
  addr: string;
}

/** A line as nginx wrote it, or undefined for anything else (a torn or foreign line is skipped, never fatal). */
export function parseAccessLogLine(line: string): AccessLogLine | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!isRecord(v)) return undefined;
  const r = v;
  const str = (k: string): string | undefined => {
    const value = r[k];
    return typeof value === 'string' ? value : undefined;
  };
  const rid = str('rid');
  const uri = str('uri');
  const status = Number(str('status'));
  const bytes = Number(str('bytes'));
  const body = Number(str('body'));
  const msec = Number(str('msec'));
  if (!rid || !/^[0-9a-f]{32}$/.test(rid) || uri === undefined || !Number.isInteger(status) || !Number.isFinite(bytes) || !Number.isFinite(body)) return undefined;
  return { rid, time: str('time') ?? '', msec: Number.isFinite(msec) ? msec : 0, method: str('method') ?? '', uri, status, bytes, body, addr: str('addr') ?? '' };
}
