// Where others reach the box, from plain inputs: BOX_CLIENT_IP when set, else the public address an
// entrance reported, else the bind address made connectable; the URLs and envelope follow the ports;
// a reported address is "first" once, "changed" when it differs, and nothing when it repeats.
import t from 'tap';
import { BoxAddress } from '../../src/heartbeat/box-address.js';

const options = { boxId: 'box-addr', fixedIp: '', serverIp: '0.0.0.0', boxPort: 7071, httpPort: 7072 };

t.test('the bind address until an entrance reports one', async (t) => {
  const a = new BoxAddress(options);
  t.equal(a.fixed, false);
  t.equal(a.clientIp(), '127.0.0.1', 'a wildcard bind address is reached on loopback');
  t.equal(a.learnPublicIp(undefined), undefined, 'a reply without PUBLIC_IP changes nothing');
  t.equal(a.learnPublicIp('203.0.113.7'), 'first');
  t.equal(a.learnPublicIp('203.0.113.7'), undefined, 'the same address again is no news');
  t.equal(a.clientIp(), '203.0.113.7');
  t.equal(a.connectWs(), 'ws://203.0.113.7:7071/dandelion/box-addr/ws/');
  t.equal(a.httpUrl(), 'http://203.0.113.7:7072/');
  t.same(a.envelope(), { ID: 'box-addr', IP: '203.0.113.7', PORT: 7071, TYPE: 'BOX' });
  t.equal(a.learnPublicIp('198.51.100.1'), 'changed');
  a.boxPort = 40000;
  a.httpPort = 40001;
  t.equal(a.connectWs(), 'ws://198.51.100.1:40000/dandelion/box-addr/ws/', 'the ports picked at start are used');
  t.equal(a.httpUrl(), 'http://198.51.100.1:40001/');
});

t.test('BOX_CLIENT_IP wins over what entrances report', async (t) => {
  const a = new BoxAddress({ ...options, fixedIp: 'box.example.net' });
  t.equal(a.fixed, true);
  a.learnPublicIp('203.0.113.7');
  t.equal(a.clientIp(), 'box.example.net');
  t.equal(a.connectWs(), 'ws://box.example.net:7071/dandelion/box-addr/ws/');
});

t.test('an IPv6 address is bracketed in URLs', async (t) => {
  const a = new BoxAddress({ ...options, serverIp: '::' });
  a.learnPublicIp('2001:db8::7');
  t.equal(a.connectWs(), 'ws://[2001:db8::7]:7071/dandelion/box-addr/ws/');
  t.equal(a.envelope().IP, '2001:db8::7', 'the envelope carries the bare address');
});

t.test('HTTPS_URL: none until a certificate is served, then the certificate\'s name and the HTTPS port', async (t) => {
  const a = new BoxAddress({ ...options, httpsPort: 7073 });
  t.equal(a.httpsUrl(), undefined);
  a.learnPublicIp('203.0.113.7');
  a.httpsName = 'box-addr.boxes.example.net';
  t.equal(a.httpsUrl(), 'https://box-addr.boxes.example.net:7073/', 'named by the certificate, not the address');
});
