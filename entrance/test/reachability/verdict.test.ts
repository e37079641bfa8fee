// The reachability verdict (entrance/src/reachability/verdict.ts), a pure function of the probes and the
// box's report: a table of every rule, then every combination of its inputs checked against the rules
// restated independently, then the advice sentence each verdict carries.
import t from 'tap';
import { adviceOf } from '../../src/reachability/assess.js';
import { portList } from '../../../shared/src/reachability-advice.js';
import { boxReportOf } from '../../src/reachability/box-report.js';
import { PORT_MAPPINGS, verdictOf } from '../../src/reachability/verdict.js';
import type { BoxReport, PortMapping, PortProbe, ProbeOutcome, Verdict } from '../../src/reachability/verdict.js';
import { decodeMessage } from '../../../shared/src/protocol/index.js';
import type { BoxExchange } from '../../../shared/src/protocol/index.js';
import { boxExchange } from '../../../test/helpers/messages.js';

/** The advice for a verdict, given the probes as the entrance has them (only the failed ones' ports count). */
function adviceFor(verdict: Verdict, i: { peerIp: string; report: BoxReport; failed: readonly PortProbe[] }): string {
  return adviceOf(verdict, i.report, i.peerIp, i.failed.map((p) => p.port));
}

const V4 = '80.0.0.7';
const V6 = '2a00:1::7';
const ok: PortProbe[] = [{ role: 'viewer', port: 7072, outcome: 'ok' }, { role: 'publisher', port: 7071, outcome: 'ok' }];
const failing = (outcome: ProbeOutcome): PortProbe[] => [{ role: 'viewer', port: 7072, outcome }, { role: 'publisher', port: 7071, outcome: 'ok' }];
const refused = failing('refused');

t.test('the rules, one row each', async (t) => {
  const rows: Array<[string, string, readonly PortProbe[] | undefined, BoxReport, Verdict]> = [
    ['no probe finished yet', V4, undefined, {}, { state: 'checking' }],
    ['no port to probe', V4, [], {}, { state: 'checking' }],
    ['reachable, mapped by UPnP', V4, ok, { portMapping: 'upnp', routerExternalIp: V4 }, { state: 'reachable', method: 'upnp' }],
    ['reachable, mapped by NAT-PMP', V4, ok, { portMapping: 'nat-pmp' }, { state: 'reachable', method: 'nat-pmp' }],
    ['reachable, PCP pinhole over IPv6', V6, ok, { portMapping: 'pcp' }, { state: 'reachable', method: 'pcp' }],
    ['reachable over IPv6 without mapping', V6, ok, { portMapping: 'none' }, { state: 'reachable', method: 'ipv6' }],
    ['reachable by a manual forward', V4, ok, { portMapping: 'none' }, { state: 'reachable', method: 'manual' }],
    ['reachable though the router claimed CGNAT (outer router forwards by hand)', V4, ok, { portMapping: 'failed', routerExternalIp: '' }, { state: 'reachable', method: 'manual' }],
    ['reachable, an original box reporting nothing', V4, ok, {}, { state: 'reachable', method: 'manual' }],
    ['router external address differs', V4, refused, { portMapping: 'upnp', routerExternalIp: '80.0.0.99' }, { state: 'cgnat' }],
    ['router external address in 100.64/10', V4, refused, { portMapping: 'nat-pmp', routerExternalIp: '100.64.3.2' }, { state: 'cgnat' }],
    ['peer itself in 100.64/10 and the router says so', '100.64.3.2', refused, { portMapping: 'upnp', routerExternalIp: '100.64.3.2' }, { state: 'cgnat' }],
    ['mapping refused with no external address (miniupnpd error 501)', V4, refused, { portMapping: 'failed', routerExternalIp: '' }, { state: 'cgnat' }],
    ['mapping refused, external address not reported', V4, failing('timeout'), { portMapping: 'failed' }, { state: 'cgnat' }],
    ['a second router inside the home (private external)', V4, refused, { portMapping: 'upnp', routerExternalIp: '192.168.0.2' }, { state: 'cgnat' }],
    ['mapped, external matches, still refused', V4, refused, { portMapping: 'upnp', routerExternalIp: V4 }, { state: 'firewall' }],
    ['mapped by NAT-PMP, times out', V4, failing('timeout'), { portMapping: 'nat-pmp', routerExternalIp: V4 }, { state: 'firewall' }],
    ['IPv6 without mapping, blocked', V6, failing('timeout'), { portMapping: 'none', lanIp: V6 }, { state: 'firewall' }],
    ['IPv6 with PCP pinhole, blocked', V6, refused, { portMapping: 'pcp', lanIp: V6 }, { state: 'firewall' }],
    ['no mapping protocol', V4, refused, { portMapping: 'none', lanIp: '192.168.1.23', routerExternalIp: V4 }, { state: 'forward-port' }],
    ['mapping failed, router has the public address', V4, refused, { portMapping: 'failed', routerExternalIp: V4 }, { state: 'forward-port' }],
    ['mapping off on the box', V4, refused, { portMapping: 'off' }, { state: 'forward-port' }],
    ['an original box reporting nothing', V4, refused, {}, { state: 'forward-port' }],
    ['another device answers on the port', V4, failing('wrong-answer'), { portMapping: 'none' }, { state: 'forward-port' }],
    ['IPv6-only box through NAT64/DS-Lite', V4, refused, { lanIp: '2a00:1::23', portMapping: 'none' }, { state: 'no-ipv6-route' }],
    ['IPv4 box reaching the entrance through a 4-to-6 translator', V6, refused, { lanIp: '192.168.1.23' }, { state: 'no-ipv6-route' }],
    ['IPv6 peer with no route back', V6, failing('no-route'), { lanIp: V6 }, { state: 'no-ipv6-route' }],
    ['IPv4-mapped IPv6 peer counts as IPv4', `::ffff:${V4}`, refused, { portMapping: 'none', lanIp: '192.168.1.23' }, { state: 'forward-port' }],
    ['IPv4-mapped IPv6 peer equal to the router external address', `::ffff:${V4}`, refused, { portMapping: 'upnp', routerExternalIp: V4 }, { state: 'firewall' }],
  ];
  for (const [name, peerIp, probes, report, expected] of rows) t.same(verdictOf({ peerIp, probes, report }), expected, name);
});

/** The rules restated from the design, independently of the module's code, for the exhaustive check. */
function expectedVerdict(peerIp: string, probes: readonly PortProbe[] | undefined, r: BoxReport): Verdict {
  if (probes === undefined || probes.length === 0) return { state: 'checking' };
  const v6 = peerIp.includes(':') && !peerIp.startsWith('::ffff:');
  const peer = peerIp.replace(/^::ffff:/, '');
  const mapped = r.portMapping === 'upnp' || r.portMapping === 'nat-pmp' || r.portMapping === 'pcp';
  if (probes.every((p) => p.outcome === 'ok')) {
    return { state: 'reachable', method: mapped ? (r.portMapping as 'upnp' | 'nat-pmp' | 'pcp') : v6 ? 'ipv6' : 'manual' };
  }
  if (r.lanIp !== undefined && r.lanIp.includes(':') !== v6) return { state: 'no-ipv6-route' };
  if (v6 && probes.some((p) => p.outcome === 'no-route')) return { state: 'no-ipv6-route' };
  if (!v6) {
    const ext = r.routerExternalIp;
    if (ext === undefined || ext === '') {
      if (r.portMapping === 'failed') return { state: 'cgnat' };
    } else if (ext !== peer || ext.startsWith('100.64.') || ext.startsWith('100.100.') || ext.startsWith('100.127.')) {
      return { state: 'cgnat' };
    }
  }
  return mapped || v6 ? { state: 'firewall' } : { state: 'forward-port' };
}

t.test('every combination of peer family, probes, mapping, external address and LAN address', async (t) => {
  const peers = [V4, V6, '100.100.1.1', `::ffff:${V4}`];
  const outcomes: Array<ProbeOutcome | undefined> = [undefined, 'ok', 'refused', 'timeout', 'no-route', 'wrong-answer', 'tls-failed'];
  const mappings: Array<PortMapping | undefined> = [undefined, ...PORT_MAPPINGS];
  const externals = [undefined, '', V4, '80.0.0.99', '100.64.0.1', '100.127.255.255', '192.168.0.2'];
  const lans = [undefined, '192.168.1.23', '2a00:1::23'];
  let cases = 0;
  let mismatches = 0;
  for (const peerIp of peers) for (const outcome of outcomes) for (const portMapping of mappings) for (const routerExternalIp of externals) for (const lanIp of lans) {
    const probes = outcome === undefined ? undefined : [{ role: 'viewer' as const, port: 7072, outcome }, { role: 'publisher' as const, port: 7071, outcome: 'ok' as const }];
    const report: BoxReport = {};
    if (portMapping !== undefined) report.portMapping = portMapping;
    if (routerExternalIp !== undefined) report.routerExternalIp = routerExternalIp;
    if (lanIp !== undefined) report.lanIp = lanIp;
    const got = verdictOf({ peerIp, probes, report });
    const want = expectedVerdict(peerIp, probes, report);
    cases += 1;
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      mismatches += 1;
      if (mismatches <= 5) t.same(got, want, JSON.stringify({ peerIp, probes, report }));
    }
    // Every verdict has a sentence, and only reachable verdicts have a method.
    const advice = adviceFor(got, { peerIp, report, failed: (probes ?? []).filter((p) => p.outcome !== 'ok') });
    if (advice.length < 20 || !advice.endsWith('.')) t.fail(`advice for ${JSON.stringify(got)}: ${advice}`);
  }
  t.equal(mismatches, 0, `${cases} combinations, all as the rules say`);
  t.equal(cases, 4 * 7 * 7 * 7 * 3);
});

t.test('the advice names the ports, the address and the protocol', async (t) => {
  const lan = { lanIp: '192.168.1.23' };
  const twoFailed: PortProbe[] = [{ role: 'viewer', port: 7072, outcome: 'refused' }, { role: 'publisher', port: 7071, outcome: 'timeout' }];
  t.equal(adviceFor({ state: 'forward-port' }, { peerIp: V4, report: { ...lan, portMapping: 'none' }, failed: twoFailed }),
    'Your router does not allow automatic port forwarding. Forward TCP 7072 and 7071 to 192.168.1.23, or turn on UPnP.');
  t.match(adviceFor({ state: 'forward-port' }, { peerIp: V4, report: { ...lan, portMapping: 'failed', portMappingError: 'UPnP error 718: ConflictInMappingEntry' }, failed: twoFailed }),
    /refused automatic port forwarding \(UPnP error 718: ConflictInMappingEntry\)\. Forward TCP 7072 and 7071 to 192\.168\.1\.23/);
  t.match(adviceFor({ state: 'forward-port' }, { peerIp: V4, report: { portMapping: 'off' }, failed: twoFailed.slice(0, 1) }), /PORT_MAPPING: off\)\. Forward TCP 7072 to this box/);
  t.match(adviceFor({ state: 'cgnat' }, { peerIp: V4, report: { routerExternalIp: '100.64.1.2' }, failed: twoFailed }), /carrier-grade NAT: your router's external address 100\.64\.1\.2 is not 80\.0\.0\.7.*public IPv4 address, or use IPv6/);
  t.match(adviceFor({ state: 'cgnat' }, { peerIp: V4, report: { portMapping: 'failed', routerExternalIp: '' }, failed: twoFailed }), /no public address of its own/);
  t.match(adviceFor({ state: 'cgnat' }, { peerIp: V4, report: { routerExternalIp: '192.168.0.2' }, failed: twoFailed }), /behind another router/);
  t.match(adviceFor({ state: 'firewall' }, { peerIp: V4, report: { ...lan, portMapping: 'nat-pmp' }, failed: twoFailed }), /forwarded the ports \(NAT-PMP\).*allow incoming TCP 7072 and 7071 to 192\.168\.1\.23/);
  t.match(adviceFor({ state: 'firewall' }, { peerIp: V6, report: {}, failed: twoFailed }), /IPv6 firewall/);
  t.match(adviceFor({ state: 'no-ipv6-route' }, { peerIp: V4, report: { lanIp: '2a00:1::23' }, failed: twoFailed }), /only an IPv6 address/);
  t.match(adviceFor({ state: 'no-ipv6-route' }, { peerIp: V6, report: { lanIp: '192.168.1.23' }, failed: twoFailed }), /through a translator/);
  t.match(adviceFor({ state: 'no-ipv6-route' }, { peerIp: V6, report: {}, failed: twoFailed }), /no IPv6 route back/);
  t.match(adviceFor({ state: 'reachable', method: 'upnp' }, { peerIp: V4, report: {}, failed: [] }), /mapped by UPnP/);
  t.equal(portList([80, 80, 443]), 'TCP 80 and 443');
  t.equal(portList([]), "the box's ports");
});

t.test('the box\'s report is read from its decoded EXCHANGE, each field checked', async (t) => {
  const decode = (extra: Record<string, unknown>): BoxExchange => {
    const d = decodeMessage(boxExchange('box-report', extra));
    if (d.kind !== 'EXCHANGE') throw new Error('not an EXCHANGE');
    return d.msg;
  };
  t.same(boxReportOf(decode({})), {}, 'an original box reports nothing');
  t.same(boxReportOf(decode({ LAN_IP: '192.168.1.23', PORT_MAPPING: 'failed', PORT_MAPPING_ERROR: 'UPnP error 501: no external address', ROUTER_EXTERNAL_IP: '' })),
    { lanIp: '192.168.1.23', portMapping: 'failed', portMappingError: 'UPnP error 501: no external address', routerExternalIp: '' });
  t.same(boxReportOf(decode({ LAN_IP: 'FE80::1', ROUTER_EXTERNAL_IP: '::ffff:80.0.0.7', PORT_MAPPING: 'pcp' })), { lanIp: 'fe80::1', routerExternalIp: '80.0.0.7', portMapping: 'pcp' }, 'addresses normalised');
  t.same(boxReportOf(decode({ PORT_MAPPING_ERROR: '   ' })), {}, 'a blank error is no error');
  // What a field cannot hold never reaches the report: the codec refuses the EXCHANGE, naming the field.
  for (const [extra, message] of [
    [{ LAN_IP: 'my-box.local' }, /LAN_IP must be an IP address/],
    [{ PORT_MAPPING: 'magic' }, /PORT_MAPPING must be one of/],
    [{ PORT_MAPPING_ERROR: 'UPnP error 501:\nno external address' }, /PORT_MAPPING_ERROR holds control characters/],
    [{ PORT_MAPPING_ERROR: 'x'.repeat(1000) }, /PORT_MAPPING_ERROR is longer than 200/],
  ] as const) t.throws(() => decode(extra), { name: 'ProtocolError', message }, JSON.stringify(extra).slice(0, 60));
});
