// pebble, the lab's ACME CA, runs in the internet namespace: its directory answers over TLS (trusted
// through apiCaFile) from the internet and from a box behind NAT, and its CA root comes from its
// management port.
import { X509Certificate } from 'node:crypto';
import t from 'tap';
import { startLab } from './lab.js';
import { startLabPebble } from './pebble.js';

t.test('pebble answers its ACME directory over TLS', async (t) => {
  const lab = await startLab({ homes: [{ kind: 'none' }] });
  t.teardown(() => lab.stop());
  const pebble = await startLabPebble(t, lab, { dnsServer: `${lab.internetIp}:53` });
  t.match(pebble.directoryUrl, new RegExp(`^https://${lab.internetIp.replace(/\./g, '\\.')}:\\d+/dir$`));
  const root = new X509Certificate(await pebble.issuerRoot());
  t.match(root.subject, /Pebble Root CA/, 'the root is pebble\'s');
  t.ok(root.ca, 'the root is a CA certificate');
  for (const ns of [lab.internet, lab.homes[0]!.box]) {
    const dir = await lab.exec(ns, ['curl', '-sS', '--cacert', pebble.apiCaFile, pebble.directoryUrl]);
    t.equal(dir.code, 0, `curl from ${ns.name}: ${dir.stderr}`);
    const directory: unknown = JSON.parse(dir.stdout || '{}');
    t.match(directory, { newAccount: String, newOrder: String, newNonce: String }, `the directory from ${ns.name}`);
  }
  const untrusted = await lab.exec(lab.internet, ['curl', '-sS', pebble.directoryUrl]);
  t.not(untrusted.code, 0, 'its API certificate is not trusted without apiCaFile');
});
