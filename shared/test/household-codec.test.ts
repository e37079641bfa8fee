// The household fields of an EXCHANGE (PAUSED, PAUSED_UNTIL, UPLOAD_CAP_MBIT, QUOTA_GB, QUOTA_USED_GB,
// VIEWER_RATE_MBIT) pass the one decoder when well formed, come back the same from a Redis hash, and
// hostile values are refused with E_FORMAT naming the field. An original box sends none of them.
import t from 'tap';
import { boxExchangeFromHash, decodeMessage, decodeText, toHash } from '../src/protocol/index.js';

const box = { ID: 'box-1', IP: '203.0.113.7', PORT: 7071, TYPE: 'BOX', COMMAND: 'EXCHANGE', CONNECT_WS: 'ws://203.0.113.7:7071/dandelion/box-1/ws/' };

t.test('the household fields decode', async (t) => {
  const paused = { ...box, PAUSED: 'quota', PAUSED_UNTIL: 1798761600, UPLOAD_CAP_MBIT: 8.5, QUOTA_GB: 12, QUOTA_USED_GB: 12.01, VIEWER_RATE_MBIT: 0 };
  t.match(decodeMessage(paused), { kind: 'EXCHANGE', msg: { PAUSED: 'quota', PAUSED_UNTIL: 1798761600, UPLOAD_CAP_MBIT: 8.5, QUOTA_GB: 12, QUOTA_USED_GB: 12.01, VIEWER_RATE_MBIT: 0 } });
  t.match(decodeMessage({ ...box, PAUSED: 'quiet-hours', PAUSED_UNTIL: '1798783200' }).msg, { PAUSED: 'quiet-hours', PAUSED_UNTIL: 1798783200 }, 'numbers as numeric strings, as the original sent readings');
  const serving = decodeMessage({ ...box, PAUSED: '', UPLOAD_CAP_MBIT: 0, QUOTA_GB: 0, QUOTA_USED_GB: 3.25, VIEWER_RATE_MBIT: 17.5 }).msg;
  t.match(serving, { PAUSED: '', UPLOAD_CAP_MBIT: 0, QUOTA_GB: 0, QUOTA_USED_GB: 3.25, VIEWER_RATE_MBIT: 17.5 }, "'' is serving");
  t.notOk('PAUSED_UNTIL' in serving, 'no PAUSED_UNTIL invented');
  const back = boxExchangeFromHash(toHash(decodeMessage(paused).msg));
  t.match(back, { PAUSED: 'quota', PAUSED_UNTIL: 1798761600, UPLOAD_CAP_MBIT: 8.5, QUOTA_GB: 12, QUOTA_USED_GB: 12.01, VIEWER_RATE_MBIT: 0 }, 'a stored exchange reads back the same');
  t.equal(typeof back.PAUSED_UNTIL, 'number');
});

t.test('an original box sends none of them', async (t) => {
  const msg = decodeMessage(box).msg;
  for (const key of ['PAUSED', 'PAUSED_UNTIL', 'UPLOAD_CAP_MBIT', 'QUOTA_GB', 'QUOTA_USED_GB', 'VIEWER_RATE_MBIT']) t.notOk(key in msg, `${key} absent`);
  const empty = decodeMessage({ ...box, PAUSED_UNTIL: '', UPLOAD_CAP_MBIT: '', VIEWER_RATE_MBIT: null }).msg;
  t.notOk('PAUSED_UNTIL' in empty || 'UPLOAD_CAP_MBIT' in empty || 'VIEWER_RATE_MBIT' in empty, "'' and null read as absent");
});

t.test('hostile household fields are refused by name', async (t) => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ PAUSED: 'holiday' }, /PAUSED must be one of quota, quiet-hours or ''/],
    [{ PAUSED: 'QUOTA' }, /PAUSED must be one of/],
    [{ PAUSED: true }, /PAUSED must be one of/],
    [{ PAUSED: 1 }, /PAUSED must be one of/],
    [{ PAUSED: { why: 'quota' } }, /PAUSED must be one of/],
    [{ PAUSED: 'quota', PAUSED_UNTIL: -1 }, /PAUSED_UNTIL must be between 0/],
    [{ PAUSED: 'quota', PAUSED_UNTIL: 1.5 }, /PAUSED_UNTIL must be a whole number/],
    [{ PAUSED: 'quota', PAUSED_UNTIL: 'soon' }, /PAUSED_UNTIL must be a finite number/],
    [{ PAUSED_UNTIL: 1e300 }, /PAUSED_UNTIL must be a whole number of seconds/],
    [{ UPLOAD_CAP_MBIT: -5 }, /UPLOAD_CAP_MBIT must be between 0/],
    [{ UPLOAD_CAP_MBIT: 'fast' }, /UPLOAD_CAP_MBIT/],
    [{ QUOTA_GB: [] }, /QUOTA_GB must be a number/],
    [{ QUOTA_USED_GB: -0.01 }, /QUOTA_USED_GB must be between 0/],
    [{ VIEWER_RATE_MBIT: 'Infinity' }, /VIEWER_RATE_MBIT must be a finite number/],
    [{ VIEWER_RATE_MBIT: false }, /VIEWER_RATE_MBIT must be a number/],
  ];
  for (const [fields, message] of cases) {
    t.throws(() => decodeText(JSON.stringify({ ...box, ...fields })), { name: 'ProtocolError', code: 'E_FORMAT', message }, JSON.stringify(fields).slice(0, 60));
  }
});
