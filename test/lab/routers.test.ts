// Each home router kind maps (or does not map) a box's port the way a real one does: UPnP IGD on
// 'upnp', NAT-PMP on 'nat-pmp', nothing on 'none'; a mapped port is reachable from the internet at the
// router's public address, an unmapped one is not.
import t from 'tap';
import { startLab } from './lab.js';
import { natPmpMap, upnpMap } from './port-mapping.js';
import { probeConnect, probeServer } from './probe.js';

const BOX_PORT = 7072;

t.test('upnp, nat-pmp and none routers', async (t) => {
  const lab = await startLab({ homes: [{ kind: 'upnp' }, { kind: 'nat-pmp' }, { kind: 'none' }] });
  t.teardown(() => lab.stop());
  const [upnp, natPmp, none] = lab.homes;
  if (!upnp || !natPmp || !none) throw new Error('three homes expected');
  for (const home of lab.homes) {
    const server = await probeServer(lab, home.box, BOX_PORT);
    t.teardown(() => server.stop());
    const before = await probeConnect(lab, lab.internet, home.publicIp, BOX_PORT, 1_500);
    t.ok(before.error, `${home.kind}: the box's port is closed before any mapping (${before.error})`);
  }

  const upnpResult = await upnpMap(lab, upnp, BOX_PORT);
  t.ok(upnpResult.ok, `upnp: upnpc maps the port\n${upnpResult.output}`);
  t.match(upnpResult.output, `ExternalIPAddress = ${upnp.publicIp}`, 'upnp: the router reports its public address');
  t.same(await probeConnect(lab, lab.internet, upnp.publicIp, BOX_PORT), { reply: `from ${lab.internetIp}` }, 'upnp: the mapped port reaches the box');

  t.notOk((await upnpMap(lab, natPmp, BOX_PORT)).ok, 'nat-pmp: UPnP is off');
  const pmpResult = await natPmpMap(lab, natPmp, BOX_PORT);
  t.ok(pmpResult.ok, `nat-pmp: natpmpc maps the port\n${pmpResult.output}`);
  t.match(pmpResult.output, `Public IP address : ${natPmp.publicIp}`, 'nat-pmp: the router reports its public address');
  t.same(await probeConnect(lab, lab.internet, natPmp.publicIp, BOX_PORT), { reply: `from ${lab.internetIp}` }, 'nat-pmp: the mapped port reaches the box');

  t.notOk((await upnpMap(lab, none, BOX_PORT)).ok, 'none: no UPnP');
  t.notOk((await natPmpMap(lab, none, BOX_PORT)).ok, 'none: no NAT-PMP');
  const unreachable = await probeConnect(lab, lab.internet, none.publicIp, BOX_PORT, 1_500);
  t.ok(unreachable.error, `none: the box stays unreachable (${unreachable.error})`);
  t.same(await probeConnect(lab, none.box, lab.internetIp, 9), { error: 'ECONNREFUSED' }, 'none: the box still reaches the internet');
});
