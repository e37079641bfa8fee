// A home behind a carrier-grade NAT cannot be reached even when its own router runs UPnP, and its
// traffic comes from the carrier's address; a home with routed IPv6 is reachable exactly on the ports
// its stateful firewall opens, by hand or, with pinholes, by the box over UPnP IGD2.
import t from 'tap';
import { startLab } from './lab.js';
import { natPmpMap, upnpMap, upnpPinhole } from './port-mapping.js';
import { probeConnect, probeServer } from './probe.js';

const BOX_PORT = 7072;
const CLOSED_PORT = 7071;

t.test('cgnat: the box is seen at the carrier\'s address and no mapping makes it reachable', async (t) => {
  const lab = await startLab({ homes: [{ kind: 'cgnat' }] });
  t.teardown(() => lab.stop());
  const home = lab.homes[0]!;
  t.match(home.routerWanIp, /^100\.64\./, 'the home router\'s WAN is in 100.64.0.0/10');
  t.not(home.publicIp, home.routerWanIp);
  const internetServer = await probeServer(lab, lab.internet, 8000);
  t.teardown(() => internetServer.stop());
  t.same(await probeConnect(lab, home.box, lab.internetIp, 8000), { reply: `from ${home.publicIp}` }, 'traffic leaves from the carrier\'s public address');

  const server = await probeServer(lab, home.box, BOX_PORT);
  t.teardown(() => server.stop());
  const upnp = await upnpMap(lab, home, BOX_PORT);
  const pmp = await natPmpMap(lab, home, BOX_PORT);
  // miniupnpd will not hand out its reserved-range WAN address as the external one, so it refuses.
  t.notOk(upnp.ok, 'UPnP refuses to map');
  t.match(upnp.output, /ExternalIPAddress = \n[\s\S]*failed with code 501/, 'UPnP: no external address, error 501');
  t.notOk(pmp.ok, 'NAT-PMP refuses to map');
  t.match(pmp.output, /network failure/, 'NAT-PMP: result 3, network failure');
  const back = await probeConnect(lab, lab.internet, home.publicIp, BOX_PORT, 1_500);
  t.ok(back.error, `the connect-back to the carrier's address fails (${back.error})`);
  const direct = await probeConnect(lab, lab.internet, home.routerWanIp, BOX_PORT, 1_500);
  t.ok(direct.error, `100.64/10 is not routed on the internet (${direct.error})`);
});

t.test('ipv6: a port opened in the router\'s firewall is reachable, another is not', async (t) => {
  const lab = await startLab({ homes: [{ kind: 'ipv6' }] });
  t.teardown(() => lab.stop());
  const home = lab.homes[0]!;
  const boxIp6 = home.boxIp6;
  if (!boxIp6) throw new Error('an ipv6 home has a box IPv6 address');
  const internetServer = await probeServer(lab, lab.internet, 8000);
  t.teardown(() => internetServer.stop());
  t.same(await probeConnect(lab, home.box, lab.internetIp6, 8000), { reply: `from ${boxIp6}` }, 'IPv6 leaves with the box\'s own global address');
  t.same(await probeConnect(lab, home.box, lab.internetIp, 8000), { reply: `from ${home.publicIp}` }, 'IPv4 still goes through NAT');

  for (const port of [BOX_PORT, CLOSED_PORT]) {
    const server = await probeServer(lab, home.box, port);
    t.teardown(() => server.stop());
  }
  const before = await probeConnect(lab, lab.internet, boxIp6, BOX_PORT, 1_500);
  t.ok(before.error, `closed before openFirewall (${before.error})`);
  await home.openFirewall(BOX_PORT);
  t.same(await probeConnect(lab, lab.internet, boxIp6, BOX_PORT), { reply: `from ${lab.internetIp6}` }, 'the opened port reaches the box over IPv6');
  const other = await probeConnect(lab, lab.internet, boxIp6, CLOSED_PORT, 1_500);
  t.ok(other.error, `a port not opened stays filtered (${other.error})`);
  const v4 = await probeConnect(lab, lab.internet, home.publicIp, BOX_PORT, 1_500);
  t.ok(v4.error, `openFirewall opens IPv6 only (${v4.error})`);
});

t.test('ipv6 with pinholes: the box opens its own IPv6 pinhole over UPnP IGD2', async (t) => {
  const lab = await startLab({ homes: [{ kind: 'ipv6', pinholes: true }] });
  t.teardown(() => lab.stop());
  const home = lab.homes[0]!;
  const boxIp6 = home.boxIp6;
  if (!boxIp6) throw new Error('an ipv6 home has a box IPv6 address');
  for (const port of [BOX_PORT, CLOSED_PORT]) {
    const server = await probeServer(lab, home.box, port);
    t.teardown(() => server.stop());
  }
  const before = await probeConnect(lab, lab.internet, boxIp6, BOX_PORT, 1_500);
  t.ok(before.error, `closed before the pinhole (${before.error})`);
  const pinhole = await upnpPinhole(lab, home, BOX_PORT);
  t.ok(pinhole.ok, `upnpc -6 -A opens a pinhole\n${pinhole.output}`);
  t.same(await probeConnect(lab, lab.internet, boxIp6, BOX_PORT), { reply: `from ${lab.internetIp6}` }, 'the pinhole reaches the box over IPv6');
  const other = await probeConnect(lab, lab.internet, boxIp6, CLOSED_PORT, 1_500);
  t.ok(other.error, `another port stays filtered (${other.error})`);
});
