// A box's dashboard summary and history point are built from its EXCHANGE and read back through
// decoders that keep only what this version wrote: wrong types become null, unreadable records undefined.
import t from 'tap';
import { decodeMessage } from '../../../shared/src/protocol/index.js';
import type { BoxExchange } from '../../../shared/src/protocol/index.js';
import { decodeBoxSummary, decodeHistoryPoint, historyPointOf, summaryOf } from '../../src/registry/box-summary.js';
import { boxExchange } from '../../../test/helpers/messages.js';

function exchange(extra: Record<string, unknown>): BoxExchange {
  const decoded = decodeMessage(boxExchange('box-sum', extra));
  if (decoded.kind !== 'EXCHANGE') throw new Error(`not an EXCHANGE: ${decoded.kind}`);
  return decoded.msg;
}

t.test('the summary rounds readings and derives CPU and memory use', async (t) => {
  const msg = exchange({ 'CPU-IDLE': 72.456, 'MEM-TOTAL': 1000, 'MEM-AVAIL': 250, TEMPERATURE: 48.123, 'LOADAVG-1': 0.456, VERSION: '2.0.0', GEOIP: { CITY: 'Lisbon', COUNTRY: 'PT', LOC: '38.7,-9.1' } });
  const summary = summaryOf(msg, '203.0.113.5', 1_700_000_000_000);
  t.equal(summary.LAST_SEEN, 1_700_000_000);
  t.equal(summary.PUBLIC_IP, '203.0.113.5', 'the address the entrance saw, not the one the box claims');
  t.equal(summary.CPU, 27.54);
  t.equal(summary.MEM_USED_PCT, 75);
  t.equal(summary.TEMPERATURE, 48.12);
  t.same([summary.CITY, summary.COUNTRY, summary.LOC, summary.VERSION], ['Lisbon', 'PT', '38.7,-9.1', '2.0.0']);
  t.equal(summary.UPTIME, null, 'a reading the box did not send is null');
  t.equal(summaryOf(msg, undefined, 0).PUBLIC_IP, '127.0.0.1', 'without a peer address, the box\'s own IP');
  const point = historyPointOf(1_699_999_980, summary, msg);
  t.same(point, { t: 1_699_999_980, CPU: 27.54, MEM_USED_PCT: 75, DISK_AVAIL: 10, TEMPERATURE: 48.12, BANDWIDTH_IDLE_UP: null, LOADAVG_1: 0.46 });
});

t.test('a stored summary and history point decode back to what was written', async (t) => {
  const msg = exchange({ 'CPU-IDLE': 50, UPTIME: 3600 });
  const summary = summaryOf(msg, '198.51.100.7', 1_700_000_000_000);
  t.same(decodeBoxSummary(JSON.stringify(summary)), summary);
  const point = historyPointOf(1_700_000_000, summary, msg);
  t.same(decodeHistoryPoint(JSON.stringify(point)), point);
});

t.test('records this version did not write are refused or cleaned', async (t) => {
  t.equal(decodeBoxSummary('not json'), undefined);
  t.equal(decodeBoxSummary('[1,2]'), undefined, 'not an object');
  t.equal(decodeBoxSummary('{"LAST_SEEN":1}'), undefined, 'no ID');
  t.equal(decodeBoxSummary('{"ID":"box-a","LAST_SEEN":"soon"}'), undefined, 'LAST_SEEN not a number');
  const cleaned = decodeBoxSummary('{"ID":"box-a","LAST_SEEN":5,"CPU":"high","CITY":7,"__proto__":{"polluted":true}}');
  t.equal(cleaned?.CPU, null, 'a reading of the wrong type is null');
  t.equal(cleaned?.CITY, null, 'a text of the wrong type is null');
  t.equal(Object.getPrototypeOf(cleaned), Object.prototype, 'no prototype from the stored text');
  t.equal(decodeHistoryPoint('{"CPU":1}'), undefined, 'a point without its minute');
  t.equal(decodeHistoryPoint('{"t":60,"CPU":null}')?.CPU, null);
});
