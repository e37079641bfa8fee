// What the UPnP client reads from a router: the WAN connection service's control URL in a root
// description (v2 preferred, made absolute against URLBase or the description's own URL), a SOAP fault's
// UPnP error, and an SSDP answer's LOCATION only when it names the gateway itself.
import t from 'tap';
import { locationFrom } from '../../src/reachability/ssdp.js';
import { upnpErrorOf, wanServiceOf } from '../../src/reachability/upnp-igd.js';

const description = (services: string, base = '') => `<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0">${base}<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:2</deviceType><deviceList><device><serviceList>${services}</serviceList></device></deviceList></device></root>`;
const service = (type: string, control: string) => `<service><serviceType>${type}</serviceType><serviceId>x</serviceId><controlURL>${control}</controlURL><SCPDURL>/s.xml</SCPDURL></service>`;

t.test('the WAN connection service, v2 first', async (t) => {
  const location = new URL('http://192.168.1.1:5000/rootDesc.xml');
  const xml = description(service('urn:schemas-upnp-org:service:WANIPConnection:1', '/ctl/IPConn1') + service('urn:schemas-upnp-org:service:WANIPConnection:2', '/ctl/IPConn'));
  t.same(wanServiceOf(xml, location), { serviceType: 'urn:schemas-upnp-org:service:WANIPConnection:2', controlUrl: new URL('http://192.168.1.1:5000/ctl/IPConn') });
  const ppp = description(service('urn:schemas-upnp-org:service:WANPPPConnection:1', 'ctl/ppp'), '<URLBase>http://192.168.1.1:49000/</URLBase>');
  t.equal(wanServiceOf(ppp, location)?.controlUrl.href, 'http://192.168.1.1:49000/ctl/ppp', 'relative to URLBase');
  t.equal(wanServiceOf(description(service('urn:schemas-upnp-org:service:Layer3Forwarding:1', '/l3')), location), undefined, 'no WAN service');
});

t.test('a SOAP fault\'s error', async (t) => {
  const fault = '<s:Envelope><s:Body><s:Fault><faultcode>s:Client</faultcode><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>718</errorCode><errorDescription>ConflictInMappingEntry</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>';
  t.same(upnpErrorOf(fault), { code: 718, text: 'UPnP error 718: ConflictInMappingEntry' });
  t.equal(upnpErrorOf('<s:Envelope><s:Body><u:AddPortMappingResponse/></s:Body></s:Envelope>'), undefined);
});

t.test('SSDP: only the gateway\'s own LOCATION', async (t) => {
  const answer = (location: string) => `HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nLOCATION: ${location}\r\n\r\n`;
  t.equal(locationFrom(answer('http://192.168.1.1:5000/rootDesc.xml'), '192.168.1.1')?.href, 'http://192.168.1.1:5000/rootDesc.xml');
  t.equal(locationFrom(answer('http://192.168.1.66:5000/rootDesc.xml'), '192.168.1.1'), undefined, 'another host on the LAN');
  t.equal(locationFrom(answer('file:///etc/passwd'), '192.168.1.1'), undefined);
  t.equal(locationFrom('HTTP/1.1 200 OK\r\n\r\n', '192.168.1.1'), undefined);
});
