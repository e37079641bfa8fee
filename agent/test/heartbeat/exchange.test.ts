// What an EXCHANGE carries, from plain inputs (no servers): the envelope, URLs, readings and version;
// FILES-HELD; capacity and idle upload rounded to two decimals and only when known; GEOIP when set;
// STATUS; traffic records beside the fields and aggregates under TRAFFIC_AGGREGATES only when there are
// some. The message passes the protocol's own EXCHANGE decoder.
import t from 'tap';
import { decodeBoxExchange } from '../../../shared/src/protocol/messages.js';
import { attachTraffic, composeExchange } from '../../src/heartbeat/exchange.js';
import type { ExchangeInputs } from '../../src/heartbeat/exchange.js';
import { ErrorCounts } from '../../src/heartbeat/error-counts.js';

const envelope = { ID: 'box-exch', IP: '203.0.113.7', PORT: 7071, TYPE: 'BOX' as const };
const inputs: ExchangeInputs = {
  envelope,
  connectWs: 'ws://203.0.113.7:7071/dandelion/box-exch/ws/',
  httpUrl: 'http://203.0.113.7:7072/',
  readings: { 'CPU-USR': 12.5, 'NET-TX-BYTES': 1000 },
  version: '1.2.3',
  filesHeld: 42,
  capacity: undefined,
  idleUpMbit: undefined,
  geoip: undefined,
  status: 'registered',
  reachability: {},
};

t.test('an EXCHANGE before capacity is known', async (t) => {
  const msg = composeExchange(inputs);
  t.same(msg, {
    ...envelope, COMMAND: 'EXCHANGE', CONNECT_WS: inputs.connectWs, HTTP_URL: inputs.httpUrl,
    'CPU-USR': 12.5, 'NET-TX-BYTES': 1000, VERSION: '1.2.3', 'FILES-HELD': 42, STATUS: 'registered',
  });
  for (const absent of ['BANDWIDTH-UP', 'BANDWIDTH-DOWN', 'BANDWIDTH-IDLE-UP', 'GEOIP', 'TRAFFIC_AGGREGATES']) t.notOk(absent in msg, `no ${absent}`);
  const { ID: _id, IP: _ip, PORT: _port, TYPE: _type, ...rest } = msg;
  t.match(decodeBoxExchange(rest, envelope), { CONNECT_WS: inputs.connectWs, 'FILES-HELD': 42 }, 'the entrance\'s decoder takes it');
});

t.test('the home network fields: sent as given, and taken by the entrance\'s decoder', async (t) => {
  const reachability = { LAN_IP: '192.168.1.23', PORT_MAPPING: 'failed' as const, PORT_MAPPING_ERROR: 'UPnP error 501: ActionFailed', ROUTER_EXTERNAL_IP: '' };
  const msg = composeExchange({ ...inputs, reachability });
  t.match(msg, reachability);
  const { ID: _id, IP: _ip, PORT: _port, TYPE: _type, ...rest } = msg;
  t.match(decodeBoxExchange(rest, envelope), reachability);
});

t.test('capacity and idle upload rounded, GEOIP when set', async (t) => {
  const msg = composeExchange({ ...inputs, capacity: { upMbit: 9.87654, downMbit: 100.004 }, idleUpMbit: 3.14159, geoip: { COUNTRY: 'FR', LOC: '48.85,2.35' } });
  t.equal(msg['BANDWIDTH-UP'], 9.88);
  t.equal(msg['BANDWIDTH-DOWN'], 100);
  t.equal(msg['BANDWIDTH-IDLE-UP'], 3.14);
  t.same(msg.GEOIP, { COUNTRY: 'FR', LOC: '48.85,2.35' });
  t.equal(composeExchange({ ...inputs, idleUpMbit: 0 })['BANDWIDTH-IDLE-UP'], 0, 'an idle upload of 0 is still said');
});

t.test('traffic beside the fields; aggregates only when there are some', async (t) => {
  const base = composeExchange(inputs);
  const record = { datetime: '2026-11-25T16:13:06Z', url: '/publisher-p/live/a.ts', status: 200, size: 100 };
  const aggregate = { ID: 'a1', PUBLISHER: 'publisher-p', FILE: 'live/a.ts', REQUESTS: 1, BYTES: 100, FROM: 1, TO: 2 };
  const withBoth = attachTraffic(base, { records: { 'box-exch:TRAFFIC_FLOW:log-r1': record }, aggregates: [aggregate] });
  t.same(withBoth['box-exch:TRAFFIC_FLOW:log-r1'], record);
  t.same(withBoth.TRAFFIC_AGGREGATES, [aggregate]);
  t.equal(withBoth['FILES-HELD'], 42, 'the rest unchanged');
  const none = attachTraffic(base, { records: {}, aggregates: [] });
  t.notOk('TRAFFIC_AGGREGATES' in none, 'no empty list on the wire');
  t.notOk('TRAFFIC_AGGREGATES' in base, 'the message without traffic is left as it was');
});

t.test('error counters: SERVE-ERRORS from the tail, AGENT-ERRORS counted, AGENT-UPTIME from the start', async (t) => {
  let clock = 5_000;
  let served5xx = 0;
  const errors = new ErrorCounts(() => served5xx, () => clock);
  t.same(errors.exchangeFields(), { 'SERVE-ERRORS': 0, 'AGENT-ERRORS': 0, 'AGENT-UPTIME': 0 }, 'all zero at the start');
  served5xx = 3;
  errors.agentError('ingest');
  errors.agentError('exchange');
  clock += 61_400;
  const msg = composeExchange({ ...inputs, errorCounts: errors.exchangeFields() });
  t.match(msg, { 'SERVE-ERRORS': 3, 'AGENT-ERRORS': 2, 'AGENT-UPTIME': 61.4 });
  const { ID: _id, IP: _ip, PORT: _port, TYPE: _type, ...rest } = msg;
  t.match(decodeBoxExchange(rest, envelope), { 'SERVE-ERRORS': 3, 'AGENT-ERRORS': 2, 'AGENT-UPTIME': 61.4 }, 'the entrance\'s decoder takes them');
  t.notOk('SERVE-ERRORS' in composeExchange(inputs), 'none without counters');
});
