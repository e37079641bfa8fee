// The household's sentence for each verdict: the issue's own example word for word, the ports listed
// once each in the order given, the box's LAN address named when known, and a sentence for every verdict.
import t from 'tap';
import { portList, reachabilityAdvice } from '../src/reachability-advice.js';
import { REACHABILITY_VERDICTS } from '../src/protocol/index.js';

t.test('a router that maps nothing: the issue\'s sentence', async (t) => {
  t.equal(reachabilityAdvice({ verdict: 'forward-port', mapping: 'none', lanIp: '192.168.1.23', ports: [7072, 7071] }),
    'Your router does not allow automatic port forwarding. Forward TCP 7072 and 7071 to 192.168.1.23, or turn on UPnP.');
  t.equal(reachabilityAdvice({ verdict: 'forward-port', mapping: 'failed', lanIp: '192.168.1.23', ports: [7072, 7071, 7073] }),
    'Your router refused automatic port forwarding. Forward TCP 7072, 7071 and 7073 to 192.168.1.23, or allow UPnP or NAT-PMP for this box.');
  t.match(reachabilityAdvice({ verdict: 'forward-port', mapping: 'off', ports: [7072, 7071] }), /PORT_MAPPING: off\). Forward TCP 7072 and 7071 to this box on your router\./);
});

t.test('every verdict has its sentence', async (t) => {
  for (const verdict of REACHABILITY_VERDICTS) {
    const s = reachabilityAdvice({ verdict, lanIp: '192.168.7.9', ports: [7072, 7071] });
    t.match(s, /^[A-Z].*\.$/, `${verdict}: one sentence`);
    t.ok(s.length <= 500, `${verdict}: fits REACHABILITY_ADVICE`);
  }
  t.match(reachabilityAdvice({ verdict: 'cgnat', ports: [7072] }), /carrier-grade NAT.*public IPv4 address, or use IPv6/);
  t.match(reachabilityAdvice({ verdict: 'firewall', lanIp: '192.168.7.9', ports: [7072, 7071] }), /allow incoming TCP 7072 and 7071 to 192\.168\.7\.9 in the router's firewall/);
  t.match(reachabilityAdvice({ verdict: 'reachable', method: 'nat-pmp', ports: [7072] }), /NAT-PMP/);
});

t.test('port lists', async (t) => {
  t.equal(portList([7072]), 'TCP 7072');
  t.equal(portList([7072, 7072]), 'TCP 7072', 'each port once');
  t.equal(portList([1, 2, 3, 4]), 'TCP 1, 2, 3 and 4');
});
