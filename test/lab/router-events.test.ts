// Router events a box must survive: a reboot forgets every mapping (the port is unreachable until the
// box maps it again), and a new public address is what the internet sees afterwards.
import t from 'tap';
import { startLab } from './lab.js';
import { natPmpMap, upnpMap } from './port-mapping.js';
import { probeConnect, probeServer } from './probe.js';

const BOX_PORT = 7072;
const INTERNET_PORT = 8000;

t.test('reboot() drops the mappings until the box maps again', async (t) => {
  const lab = await startLab({ homes: [{ kind: 'upnp' }] });
  t.teardown(() => lab.stop());
  const home = lab.homes[0]!;
  const server = await probeServer(lab, home.box, BOX_PORT);
  t.teardown(() => server.stop());
  t.ok((await upnpMap(lab, home, BOX_PORT)).ok, 'mapped');
  t.ok((await probeConnect(lab, lab.internet, home.publicIp, BOX_PORT)).reply, 'reachable before the reboot');
  await home.reboot();
  const after = await probeConnect(lab, lab.internet, home.publicIp, BOX_PORT, 1_500);
  t.ok(after.error, `unreachable after the reboot (${after.error})`);
  const list = await lab.exec(home.box, ['upnpc', '-u', home.upnpUrl ?? '', '-l']);
  t.notMatch(list.stdout, `${BOX_PORT}->${home.boxLanIp}:${BOX_PORT}`, 'the router lists no mapping');
  t.ok((await upnpMap(lab, home, BOX_PORT)).ok, 'mapped again');
  t.ok((await probeConnect(lab, lab.internet, home.publicIp, BOX_PORT)).reply, 'reachable again');
});

t.test('changeWanIp() changes the address the internet sees; mappings follow it', async (t) => {
  const lab = await startLab({ homes: [{ kind: 'nat-pmp' }, { kind: 'cgnat' }] });
  t.teardown(() => lab.stop());
  const [home, cgnat] = lab.homes;
  if (!home || !cgnat) throw new Error('two homes expected');
  const internetServer = await probeServer(lab, lab.internet, INTERNET_PORT);
  t.teardown(() => internetServer.stop());
  const server = await probeServer(lab, home.box, BOX_PORT);
  t.teardown(() => server.stop());
  t.ok((await natPmpMap(lab, home, BOX_PORT)).ok, 'mapped');

  const oldIp = home.publicIp;
  t.same(await probeConnect(lab, home.box, lab.internetIp, INTERNET_PORT), { reply: `from ${oldIp}` });
  const newIp = await home.changeWanIp();
  t.not(newIp, oldIp);
  t.equal(home.publicIp, newIp);
  t.equal(home.routerWanIp, newIp);
  t.same(await probeConnect(lab, home.box, lab.internetIp, INTERNET_PORT), { reply: `from ${newIp}` }, 'the internet sees the new address');
  t.ok((await probeConnect(lab, lab.internet, newIp, BOX_PORT)).reply, 'the mapping answers at the new address');
  const old = await probeConnect(lab, lab.internet, oldIp, BOX_PORT, 1_500);
  t.ok(old.error, `nothing answers at the old address (${old.error})`);
  const pmp = await natPmpMap(lab, home, BOX_PORT);
  t.match(pmp.output, `Public IP address : ${newIp}`, 'NAT-PMP reports the new address');

  const carrierIp = await cgnat.changeWanIp();
  t.match(cgnat.routerWanIp, /^100\.64\./, 'cgnat: the home router keeps its carrier address');
  t.same(await probeConnect(lab, cgnat.box, lab.internetIp, INTERNET_PORT), { reply: `from ${carrierIp}` }, 'cgnat: the carrier\'s new address is seen');
});
