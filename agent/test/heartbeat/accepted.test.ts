// What an accepted EXCHANGE does, with plain parts and a status page in a test folder: the status says
// registered (or which port to forward), the aggregates the EXCHANGE carried are acknowledged, a first
// public address is announced on every link, a changed one also starts a capacity test, and with
// BOX_CLIENT_IP set nothing is announced. An EXCHANGE refused with E_ADDRESS teaches the box the address
// the refusal names, as the entrance encoded it.
import t from 'tap';
import { silentLogger } from '../../../shared/src/log.js';
import { ProtocolError, decodeText, encodeMessage, errorReply } from '../../../shared/src/protocol/index.js';
import type { BoxExchange, ExchangeReply } from '../../../shared/src/protocol/index.js';
import { exchangeAccepted, exchangeRefused } from '../../src/heartbeat/accepted.js';
import { BoxAddress } from '../../src/heartbeat/box-address.js';
import { boxStatusForTest } from '../../../test/helpers/box-status.js';

const URL = 'ws://entrance.example/dandelion/ws/';
const reply = (extra: Partial<ExchangeReply> = {}): ExchangeReply => ({
  ID: 'entrance-e', IP: '192.0.2.1', PORT: 8080, TYPE: 'ENTRANCE', COMMAND: 'EXCHANGE', MESSAGE: 'ACCEPTED', ENTRANCE_URLS: [], ...extra,
});
const sent = (ids: string[] = []): BoxExchange => ({
  ID: 'box-acc', IP: '127.0.0.1', PORT: 7071, TYPE: 'BOX', COMMAND: 'EXCHANGE', CONNECT_WS: 'ws://127.0.0.1:7071/dandelion/box-acc/ws/',
  ...(ids.length ? { TRAFFIC_AGGREGATES: ids.map((ID) => ({ ID, PUBLISHER: '', FILE: '', REQUESTS: 1, BYTES: 1, FROM: 1, TO: 2 })) } : {}),
});

function setup(t: { teardown(fn: () => Promise<void>): void }, fixedIp = '') {
  const address = new BoxAddress({ boxId: 'box-acc', fixedIp, serverIp: '127.0.0.1', boxPort: 7071, httpPort: 7072 });
  const boxStatus = boxStatusForTest(t, 'box-acc');
  const calls = { acknowledged: [] as string[][], beats: 0, remeasured: 0 };
  const accepted = exchangeAccepted({
    address, boxStatus, log: silentLogger(),
    acknowledge: async (ids) => void calls.acknowledged.push(ids),
    beatAll: () => void (calls.beats += 1),
    remeasure: () => void (calls.remeasured += 1),
    adviceFor: (verdict) => `advice for ${verdict}`,
  });
  return { address, boxStatus, calls, accepted };
}

t.test('registered; aggregates acknowledged; the public address learnt, then changed', async (t) => {
  const { address, boxStatus, calls, accepted } = setup(t);
  await accepted(reply(), sent(['a1', 'a2']), URL);
  t.same(boxStatus.current, { code: 'registered', detail: `registered with ${URL}` });
  t.same(calls.acknowledged, [['a1', 'a2']]);
  t.equal(calls.beats, 0, 'no address reported: nothing to announce');

  await accepted(reply({ PUBLIC_IP: '203.0.113.7' }), sent(), URL);
  t.equal(address.clientIp(), '203.0.113.7');
  t.same(calls, { acknowledged: [['a1', 'a2']], beats: 1, remeasured: 0 }, 'first address: announced, no new capacity test; an EXCHANGE without aggregates acknowledges nothing');
  await accepted(reply({ PUBLIC_IP: '203.0.113.7' }), sent(), URL);
  t.equal(calls.beats, 1, 'the same address is no news');
  await accepted(reply({ PUBLIC_IP: '198.51.100.1' }), sent(), URL);
  t.same({ beats: calls.beats, remeasured: calls.remeasured }, { beats: 2, remeasured: 1 }, 'changed: announced and measured again');
});

t.test('an entrance that cannot reach the viewer port says which port to forward', async (t) => {
  const { boxStatus, accepted } = setup(t);
  await accepted(reply({ PUBLIC_IP: '203.0.113.7', REACHABLE: false }), sent(), URL);
  t.equal(boxStatus.current.code, 'ports-unreachable');
  t.match(boxStatus.current.detail, /cannot reach http:\/\/127\.0\.0\.1:7072\/ at 203\.0\.113\.7: forward BOX_HTTP_PORT 7072/);
});

t.test('the entrance\'s verdict and advice go on the status page; the box\'s own advice yields to it', async (t) => {
  const { boxStatus, accepted } = setup(t);
  boxStatus.advise('box', 'Your router does not allow automatic port forwarding. Forward TCP 7072 and 7071 to 192.168.1.23, or turn on UPnP.');
  t.match(boxStatus.snapshot(), { ADVICE: /^Your router does not allow/ }, 'before any verdict: the box\'s own sentence');
  const advice = 'Your internet provider shares one public address between several homes (carrier-grade NAT).';
  await accepted(reply({ REACHABLE: false, REACHABILITY: 'cgnat', REACHABILITY_ADVICE: advice }), sent(), URL);
  t.same(boxStatus.current, { code: 'ports-unreachable', detail: advice });
  t.equal(boxStatus.snapshot().ADVICE, advice, 'the entrance\'s advice wins');

  await accepted(reply({ REACHABLE: true, REACHABILITY: 'reachable', REACHABILITY_METHOD: 'upnp', REACHABILITY_ADVICE: 'Viewers can reach this box.' }), sent(), URL);
  t.same(boxStatus.current, { code: 'registered', detail: `registered with ${URL}: Viewers can reach this box.` });

  await accepted(reply({ REACHABILITY: 'firewall' }), sent(), URL);
  t.same(boxStatus.current, { code: 'ports-unreachable', detail: 'advice for firewall' }, 'a verdict without advice: the box words it');

  await accepted(reply({ REACHABILITY: 'checking', REACHABILITY_ADVICE: 'The entrance is checking.' }), sent(), URL);
  t.equal(boxStatus.current.code, 'registered', 'still checking: registered');

  await accepted(reply({ REACHABLE: true }), sent(), URL);
  t.same(boxStatus.current, { code: 'registered', detail: `registered with ${URL}` }, 'an entrance without verdicts: REACHABLE as before');
  t.match(boxStatus.snapshot().ADVICE, /^Your router does not allow/, 'and the box\'s own advice again');
  await boxStatus.flush();
});

t.test('with BOX_CLIENT_IP nothing is announced', async (t) => {
  const { calls, accepted } = setup(t, 'box.example.net');
  await accepted(reply({ PUBLIC_IP: '203.0.113.7' }), sent(), URL);
  await accepted(reply({ PUBLIC_IP: '198.51.100.1' }), sent(), URL);
  t.same({ beats: calls.beats, remeasured: calls.remeasured }, { beats: 0, remeasured: 1 }, 'a changed line is still measured');
});

t.test('an E_ADDRESS refusal teaches a box without BOX_CLIENT_IP the address to announce', async (t) => {
  const own = { ID: 'entrance-e', IP: '192.0.2.1', PORT: 8080, TYPE: 'ENTRANCE' as const };
  const refusal = (code: 'E_ADDRESS' | 'E_FORMAT') => {
    const decoded = decodeText(encodeMessage(errorReply(own, new ProtocolError(code, 'CONNECT_WS: host 127.0.0.1 is not the address this box connects from', 4000, { PUBLIC_IP: '203.0.113.7' }), 'EXCHANGE')));
    if (decoded.kind !== 'ERROR') throw new Error(`decoded as ${decoded.kind}`);
    return decoded.msg;
  };
  const address = new BoxAddress({ boxId: 'box-acc', fixedIp: '', serverIp: '0.0.0.0', boxPort: 7071, httpPort: 7072 });
  const refused = exchangeRefused({ address, log: silentLogger() });
  refused(refusal('E_FORMAT'), URL);
  t.equal(address.clientIp(), '127.0.0.1', 'another refusal changes nothing');
  refused(refusal('E_ADDRESS'), URL);
  t.equal(address.clientIp(), '203.0.113.7', 'the address the entrance sees');
  t.equal(address.connectWs(), 'ws://203.0.113.7:7071/dandelion/box-acc/ws/', 'announced in the next EXCHANGE');

  const fixed = new BoxAddress({ boxId: 'box-acc', fixedIp: 'box.example.net', serverIp: '0.0.0.0', boxPort: 7071, httpPort: 7072 });
  exchangeRefused({ address: fixed, log: silentLogger() })(refusal('E_ADDRESS'), URL);
  t.equal(fixed.clientIp(), 'box.example.net', 'BOX_CLIENT_IP is the operator\'s to correct');
});

t.test('an E_ADDRESS refusal of HTTPS_URL stops the box announcing its name, and nothing else', async (t) => {
  const own = { ID: 'entrance-e', IP: '192.0.2.1', PORT: 8080, TYPE: 'ENTRANCE' as const };
  const why = 'HTTPS_URL: this box has no name here (no BOX_DOMAIN, or its ID is not a lowercase DNS label), so it announces no HTTPS_URL';
  const decoded = decodeText(encodeMessage(errorReply(own, new ProtocolError('E_ADDRESS', why, 4000, { PUBLIC_IP: '203.0.113.7' }), 'EXCHANGE')));
  if (decoded.kind !== 'ERROR') throw new Error(`decoded as ${decoded.kind}`);
  const address = new BoxAddress({ boxId: 'box-acc', fixedIp: '198.51.100.4', serverIp: '0.0.0.0', boxPort: 7071, httpPort: 7072, httpsPort: 7073 });
  address.httpsName = 'box-acc.boxes.example.net';
  t.equal(address.httpsUrl(), 'https://box-acc.boxes.example.net:7073/');
  exchangeRefused({ address, log: silentLogger() })(decoded.msg, URL);
  t.equal(address.httpsUrl(), undefined, 'HTTPS_URL no longer announced');
  t.equal(address.clientIp(), '198.51.100.4', 'the address is left alone');
});
