// The home-network fields of an EXCHANGE (LAN_IP, PORT_MAPPING, PORT_MAPPING_ERROR, ROUTER_EXTERNAL_IP)
// and the verdict fields of its reply (REACHABILITY, REACHABILITY_METHOD, REACHABILITY_ADVICE) pass the
// one decoder when well formed, and hostile values are refused with a ProtocolError naming the field,
// never a crash. An older entrance's reply (no verdict) still decodes.
import t from 'tap';
import { decodeMessage, decodeText } from '../src/protocol/index.js';

const box = { ID: 'box-1', IP: '203.0.113.7', PORT: 7071, TYPE: 'BOX', COMMAND: 'EXCHANGE', CONNECT_WS: 'ws://203.0.113.7:7071/dandelion/box-1/ws/' };
const reply = { ID: 'entrance-1', IP: 'e.example', PORT: 443, TYPE: 'ENTRANCE', COMMAND: 'EXCHANGE', MESSAGE: 'ACCEPTED', ENTRANCE_URLS: [] };

t.test('the box\'s home-network fields decode', async (t) => {
  const d = decodeMessage({ ...box, LAN_IP: '192.168.1.23', PORT_MAPPING: 'nat-pmp', ROUTER_EXTERNAL_IP: '80.0.0.2' });
  t.match(d, { kind: 'EXCHANGE', msg: { LAN_IP: '192.168.1.23', PORT_MAPPING: 'nat-pmp', ROUTER_EXTERNAL_IP: '80.0.0.2' } });
  const failed = decodeMessage({ ...box, LAN_IP: 'fd00::23', PORT_MAPPING: 'failed', PORT_MAPPING_ERROR: 'UPnP error 501: ActionFailed', ROUTER_EXTERNAL_IP: '' });
  t.match(failed.msg, { LAN_IP: 'fd00::23', PORT_MAPPING: 'failed', PORT_MAPPING_ERROR: 'UPnP error 501: ActionFailed', ROUTER_EXTERNAL_IP: '' }, 'a router that reports no external address: \'\'');
  for (const method of ['upnp', 'nat-pmp', 'pcp', 'none', 'failed', 'off']) t.match(decodeMessage({ ...box, PORT_MAPPING: method }), { kind: 'EXCHANGE', msg: { PORT_MAPPING: method } });
  const stored = decodeMessage({ ...box, LAN_IP: '', PORT_MAPPING: '' });
  t.notOk('LAN_IP' in stored.msg || 'PORT_MAPPING' in stored.msg, 'empty values (a Redis hash\'s absent fields) are absent');
});

t.test('hostile home-network fields are refused by name', async (t) => {
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ LAN_IP: 'box.evil.example' }, 'E_FORMAT', /LAN_IP must be an IP address/],
    [{ LAN_IP: '<script>' }, 'E_FORMAT', /LAN_IP is not an IP address/],
    [{ LAN_IP: 12 }, 'E_FORMAT', /LAN_IP/],
    [{ LAN_IP: { a: 1 } }, 'E_FORMAT', /LAN_IP must be a string/],
    [{ ROUTER_EXTERNAL_IP: '1.2.3.4.5' }, 'E_FORMAT', /ROUTER_EXTERNAL_IP/],
    [{ ROUTER_EXTERNAL_IP: 'x'.repeat(300) }, 'E_TOO_BIG', /ROUTER_EXTERNAL_IP/],
    [{ PORT_MAPPING: 'teleport' }, 'E_FORMAT', /PORT_MAPPING must be one of upnp, nat-pmp, pcp, none, failed, off/],
    [{ PORT_MAPPING: 'UPNP' }, 'E_FORMAT', /PORT_MAPPING must be one of/],
    [{ PORT_MAPPING: true }, 'E_FORMAT', /PORT_MAPPING/],
    [{ PORT_MAPPING: 'x'.repeat(5000) }, 'E_TOO_BIG', /PORT_MAPPING/],
    [{ PORT_MAPPING_ERROR: 'e'.repeat(201) }, 'E_TOO_BIG', /PORT_MAPPING_ERROR is longer than 200/],
    [{ PORT_MAPPING_ERROR: 'line\nbreak' }, 'E_FORMAT', /PORT_MAPPING_ERROR holds control characters/],
    [{ PORT_MAPPING_ERROR: ['a'] }, 'E_FORMAT', /PORT_MAPPING_ERROR must be a string/],
  ];
  for (const [fields, code, message] of cases) {
    t.throws(() => decodeText(JSON.stringify({ ...box, ...fields })), { name: 'ProtocolError', code, message }, JSON.stringify(fields).slice(0, 60));
  }
});

t.test('the entrance\'s verdict decodes; an older entrance sends none', async (t) => {
  const advice = 'Your router does not allow automatic port forwarding. Forward TCP 7072 and 7071 to 192.168.1.23, or turn on UPnP.';
  const d = decodeMessage({ ...reply, REACHABLE: false, REACHABILITY: 'forward-port', REACHABILITY_ADVICE: advice });
  t.match(d, { kind: 'EXCHANGE_REPLY', msg: { REACHABLE: false, REACHABILITY: 'forward-port', REACHABILITY_ADVICE: advice } });
  t.match(decodeMessage({ ...reply, REACHABLE: true, REACHABILITY: 'reachable', REACHABILITY_METHOD: 'manual' }).msg, { REACHABILITY: 'reachable', REACHABILITY_METHOD: 'manual' });
  for (const verdict of ['reachable', 'forward-port', 'cgnat', 'firewall', 'no-ipv6-route', 'checking']) t.match(decodeMessage({ ...reply, REACHABILITY: verdict }), { kind: 'EXCHANGE_REPLY', msg: { REACHABILITY: verdict } });
  const old = decodeMessage({ ...reply, REACHABLE: true }).msg;
  t.notOk('REACHABILITY' in old || 'REACHABILITY_METHOD' in old || 'REACHABILITY_ADVICE' in old, 'no verdict fields invented');
});

t.test("a newer entrance's verdict or method is dropped, the rest of the reply kept", async (t) => {
  const d = decodeMessage({ ...reply, REACHABLE: false, REACHABILITY: 'maybe', REACHABILITY_METHOD: 'telepathy', REACHABILITY_ADVICE: 'Ask your ISP.' });
  t.equal(d.kind, 'EXCHANGE_REPLY');
  t.notOk('REACHABILITY' in d.msg || 'REACHABILITY_METHOD' in d.msg, 'unknown words dropped');
  t.match(d.msg, { REACHABLE: false, REACHABILITY_ADVICE: 'Ask your ISP.' });
});

t.test('hostile verdict fields are refused by name', async (t) => {
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ REACHABILITY: true }, 'E_FORMAT', /REACHABILITY must be a string/],
    [{ REACHABILITY: 'x'.repeat(41) }, 'E_TOO_BIG', /REACHABILITY is longer than 40/],
    [{ REACHABILITY: { verdict: 'reachable' } }, 'E_FORMAT', /REACHABILITY must be a string/],
    [{ REACHABILITY_METHOD: ['manual'] }, 'E_FORMAT', /REACHABILITY_METHOD must be a string/],
    [{ REACHABILITY_ADVICE: 'a'.repeat(501) }, 'E_TOO_BIG', /REACHABILITY_ADVICE is longer than 500/],
    [{ REACHABILITY_ADVICE: 'bell\u0007' }, 'E_FORMAT', /REACHABILITY_ADVICE holds control characters/],
    [{ REACHABILITY_ADVICE: ['x'] }, 'E_FORMAT', /REACHABILITY_ADVICE must be a string/],
  ];
  for (const [fields, code, message] of cases) {
    t.throws(() => decodeText(JSON.stringify({ ...reply, ...fields })), { name: 'ProtocolError', code, message }, JSON.stringify(fields).slice(0, 60));
  }
});
