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
  return checkedLine((k) => {
    const value = r[k];
    return typeof value === 'string' ? value : undefined;
  });
}

/** A JSON string's content with nothing to unescape and nothing JSON refuses (raw control characters). */
const PLAIN = '([^"\\\\\\x00-\\x1f]*)';
const FIELDS = ['rid', 'time', 'msec', 'method', 'uri', 'status', 'bytes', 'body', 'addr'] as const;
type Field = (typeof FIELDS)[number];
/**
 * One line exactly as LOG_FORMAT writes it when no value needs an escape, read where it stands in the
 * chunk (sticky): no per-line string and no JSON.parse, a tenth of their cost, which was the largest
 * share of the agent's CPU while nginx served playlists (bench serving).
 */
const PLAIN_LINE = new RegExp(`\\{${FIELDS.map((k) => `"${k}":"${PLAIN}"`).join(',')}\\}(?=\\n|$)`, 'y');

/**
 * Calls `each` for every line of `text` (lines joined by "\n", as `text.split('\n')` cuts them) with the
 * parsed line, or with undefined and the line's text when it is not an access-log line. Lines in
 * LOG_FORMAT's plain shape are read by PLAIN_LINE; any other (escapes, other key order) goes through
 * parseAccessLogLine, and both ways give the same answer for every line (agent/test/traffic/log-format.test.ts).
 */
export function forEachAccessLogLine(text: string, each: (line: AccessLogLine | undefined, lineText: string) => void): void {
  let at = 0;
  for (;;) {
    PLAIN_LINE.lastIndex = at;
    const m = PLAIN_LINE.exec(text);
    let end: number;
    if (m) {
      end = PLAIN_LINE.lastIndex;
      each(checkedLine((k) => m[FIELDS.indexOf(k) + 1]), m[0]);
    } else {
      const newline = text.indexOf('\n', at);
      end = newline < 0 ? text.length : newline;
      const lineText = text.slice(at, end);
      each(parseAccessLogLine(lineText), lineText);
    }
    if (end >= text.length) return;
    at = end + 1;
  }
}

/** The checks every line passes, however it was read: `str(k)` is the string value of field k, if any. */
function checkedLine(str: (k: Field) => string | undefined): AccessLogLine | undefined {
  const rid = str('rid');
  const uri = str('uri');
  const status = Number(str('status'));
  const bytes = Number(str('bytes'));
  const body = Number(str('body'));
  const msec = Number(str('msec'));
  if (!rid || !/^[0-9a-f]{32}$/.test(rid) || uri === undefined || !Number.isInteger(status) || !Number.isFinite(bytes) || !Number.isFinite(body)) return undefined;
  return { rid, time: str('time') ?? '', msec: Number.isFinite(msec) ? msec : 0, method: str('method') ?? '', uri, status, bytes, body, addr: str('addr') ?? '' };
}
