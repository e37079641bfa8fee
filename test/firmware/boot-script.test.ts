// The image's boot script (firmware-image/rootfs/usr/lib/dandelion/dandelion-boot) takes dandelion.yaml
// through the agent's own config loader (`dandelion provision env`): Wi-Fi and SSH from valid values,
// the agent's health probe from BOX_PORT, and a file the loader refuses leaves the box wired, without
// SSH. Runs the script on this host with a fake systemctl and bin/dandelion; part of `make test`.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const SCRIPT = path.join(ROOT, 'firmware-image', 'rootfs', 'usr', 'lib', 'dandelion', 'dandelion-boot');
const DANDELION = path.join(ROOT, 'bin', 'dandelion');
const TOKEN = `dlt_0123456789ab_${'A'.repeat(43)}`;
const BASE = ['ENTRANCE_URLS: [ws://10.0.2.100:7071/dandelion/ws/]', `ENROLMENT_TOKEN: ${TOKEN}`];
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHhH1pKJq2Vfzj5Ys0pS3kQnq9v6YJ0mJbKXWc8bXo5m me@laptop';

function runBoot(t: { testdir(): string }, yaml: string | undefined) {
  const dir = t.testdir();
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(path.join(bin, 'systemctl'), `#!/bin/sh\necho "$*" >> ${dir}/systemctl.log\n`);
  chmodSync(path.join(bin, 'systemctl'), 0o755);
  const config = path.join(dir, 'dandelion.yaml');
  if (yaml !== undefined) writeFileSync(config, yaml);
  const r = spawnSync('sh', [SCRIPT], {
    encoding: 'utf8',
    env: { PATH: `${bin}:${process.env.PATH}`, DANDELION_CONFIG: config, DANDELION_RUN: path.join(dir, 'run'), DANDELION_DATA: path.join(dir, 'data'), DANDELION_BIN: DANDELION },
  });
  const read = (f: string): string | undefined => (existsSync(path.join(dir, f)) ? readFileSync(path.join(dir, f), 'utf8') : undefined);
  return { code: r.status, log: r.stderr, read };
}

t.test('Wi-Fi, SSH and the health probe from valid keys', async (t) => {
  const r = runBoot(t, [
    ...BASE,
    'BOX_PORT: 40123   # a comment',
    'WIFI_COUNTRY: GB',
    'WIFI_SSID: "Shop #1"',
    "WIFI_PASSPHRASE: 'correct horse'",
    'SSH_AUTHORIZED_KEYS:',
    `  - ${KEY}`,
    `  - "${KEY.replace('me@laptop', 'other')}"`,
    'GEOIP: {CITY: Lisbon}',
    '',
  ].join('\n'));
  t.equal(r.code, 0, r.log);
  t.equal(r.read('run/agent.env'), 'DANDELION_HEALTH_URL=http://127.0.0.1:40123/dandelion/\n', 'the probe knocks on BOX_PORT');
  t.equal(r.read('run/wpa_supplicant-wlan0.conf'), 'ctrl_interface=DIR=/run/wpa_supplicant GROUP=netdev\ncountry=GB\nnetwork={\n  ssid="Shop #1"\n  psk="correct horse"\n}\n', 'an SSID with a # is read as YAML reads it');
  t.equal(r.read('run/ssh/root_authorized_keys'), `${KEY}\n${KEY.replace('me@laptop', 'other')}\n`, 'both keys, unquoted');
  t.ok(r.read('data/ssh/ssh_host_ed25519_key') && r.read('data/ssh/ssh_host_ecdsa_key.pub'), 'host keys made on the data partition');
  t.equal(r.read('systemctl.log'), '--no-block start wpa_supplicant@wlan0.service\n--no-block start ssh.service\n');
});

t.test('nothing provisioned: wired only, SSH off, the default probe', async (t) => {
  const r = runBoot(t, `${BASE.join('\n')}\n`);
  t.equal(r.code, 0, r.log);
  t.equal(r.read('run/agent.env'), 'DANDELION_HEALTH_URL=http://127.0.0.1:7071/dandelion/\n');
  t.equal(r.read('run/wpa_supplicant-wlan0.conf'), undefined);
  t.equal(r.read('run/ssh/root_authorized_keys'), undefined);
  t.equal(r.read('data/ssh/ssh_host_ed25519_key'), undefined, 'no host keys without SSH');
  t.equal(r.read('systemctl.log'), undefined, 'nothing started');
});

t.test('no dandelion.yaml at all: logs it and succeeds', async (t) => {
  const r = runBoot(t, undefined);
  t.equal(r.code, 0);
  t.match(r.log, /not provisioned/);
});

t.test('a file the loader refuses: wired, no SSH, and the reasons in the log', async (t) => {
  const r = runBoot(t, [
    ...BASE,
    'BOX_PORT: "80; rm -rf /"',
    'WIFI_COUNTRY: gb',
    'WIFI_SSID: home',
    'WIFI_PASSPHRASE: short',
    'SSH_AUTHORIZED_KEYS:',
    '  - not a key',
    '',
  ].join('\n'));
  t.equal(r.code, 0, r.log);
  t.match(r.log, /BOX_PORT/, 'each bad key is named');
  t.match(r.log, /WIFI_COUNTRY/);
  t.match(r.log, /WIFI_PASSPHRASE/);
  t.match(r.log, /SSH_AUTHORIZED_KEYS/);
  t.match(r.log, /refused by the config loader/);
  t.equal(r.read('run/wpa_supplicant-wlan0.conf'), undefined, 'no Wi-Fi');
  t.equal(r.read('run/ssh/root_authorized_keys'), undefined, 'no SSH');
  t.equal(r.read('systemctl.log'), undefined, 'nothing started');
});

t.test('Wi-Fi: a country is required; no passphrase means an open network', async (t) => {
  const noCountry = runBoot(t, `${BASE.join('\n')}\nWIFI_SSID: home\nWIFI_PASSPHRASE: longenough\n`);
  t.match(noCountry.log, /WIFI_COUNTRY/);
  t.equal(noCountry.read('run/wpa_supplicant-wlan0.conf'), undefined);
  const open = runBoot(t, `${BASE.join('\n')}\nWIFI_COUNTRY: DE\nWIFI_SSID: cafe\n`);
  t.match(open.read('run/wpa_supplicant-wlan0.conf') ?? '', /key_mgmt=NONE/, 'no passphrase: an open network');
});
