// The home router is the gateway of the default IPv4 route in /proc/net/route: the lowest metric wins,
// routes that are down, have no gateway or are not default are skipped, and a table without one (an
// IPv6-only box, no network) gives none.
import t from 'tap';
import { parseDefaultGateway } from '../../src/reachability/default-gateway.js';

const HEADER = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT';

t.test('the default route\'s gateway, little-endian hex', async (t) => {
  const table = [HEADER,
    'eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0',
    'eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0'].join('\n');
  t.same(parseDefaultGateway(table), { iface: 'eth0', address: '192.168.1.1' });
});

t.test('the lowest metric wins; down, gateway-less and non-default routes are skipped', async (t) => {
  const table = [HEADER,
    'wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0',
    'eth0\t00000000\t01000A0A\t0003\t0\t0\t100\t00000000\t0\t0\t0',
    'eth1\t00000000\t0102A8C0\t0002\t0\t0\t1\t00000000\t0\t0\t0', // not up
    'eth2\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0', // no gateway (a point-to-point default)
    'eth3\t0000000A\t0103A8C0\t0003\t0\t0\t0\t000000FF\t0\t0\t0', // 10.0.0.0/8, not default
  ].join('\n');
  t.same(parseDefaultGateway(table), { iface: 'eth0', address: '10.10.0.1' });
});

t.test('no default route, an empty or garbled table: none', async (t) => {
  t.equal(parseDefaultGateway(HEADER), undefined);
  t.equal(parseDefaultGateway(''), undefined);
  t.equal(parseDefaultGateway(`${HEADER}\neth0\t00000000\tZZZZZZZZ\t0003\t0\t0\t0\t00000000`), undefined);
});
