// The image's boot script (firmware-image/rootfs/usr/lib/dandelion/dandelion-boot) reads the few keys it
// needs from dandelion.yaml in shell: Wi-Fi and SSH from valid values, the agent's health probe from
// BOX_PORT, and refuses (logs, treats as unset) what it cannot read safely. Runs the script on this
// host with a fake systemctl; fast, but part of `make image-test` only.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const SCRIPT = path.join(ROOT, 'firmware-image', 'rootfs', 'usr', 'lib', 'dandelion', 'dandelion-boot');
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
    env: { PATH: `${bin}:${process.env.PATH}`, DANDELION_CONFIG: config, DANDELION_RUN: path.join(dir, 'run'), DANDELION_DATA: path.join(dir, 'data') },
  });
  const read = (f: string): string | undefined => (existsSync(path.join(dir, f)) ? readFileSync(path.join(dir, f), 'utf8') : undefined);
  return { code: r.status, log: r.stderr, read };
}

t.test('Wi-Fi, SSH and the health probe from valid keys', async (t) => {
  const r = runBoot(t, [
    'ENTRANCE_URLS: [ws://10.0.2.2:7071/dandelion/ws/]',
    'BOX_PORT: 40123   # a comment',
    'WIFI_COUNTRY: GB',
    'WIFI_SSID: "my net"',
    "WIFI_PASSPHRASE: 'correct horse'",
    'SSH_AUTHORIZED_KEYS:',
    `  - ${KEY}`,
    `  - "${KEY.replace('me@laptop', 'other')}"`,
    '  - not a key',
    'GEOIP: {CITY: Lisbon}',
    '',
  ].join('\n'));
  t.equal(r.code, 0, r.log);
  t.equal(r.read('run/agent.env'), 'DANDELION_HEALTH_URL=http://127.0.0.1:40123/dandelion/\n', 'the probe knocks on BOX_PORT');
  t.equal(r.read('run/wpa_supplicant-wlan0.conf'), 'ctrl_interface=DIR=/run/wpa_supplicant GROUP=netdev\ncountry=GB\nnetwork={\n  ssid="my net"\n  psk="correct horse"\n}\n');
  t.equal(r.read('run/ssh/root_authorized_keys'), `${KEY}\n${KEY.replace('me@laptop', 'other')}\n`, 'the two valid keys, unquoted');
  t.match(r.log, /ignoring 1 SSH_AUTHORIZED_KEYS entries/);
  t.ok(r.read('data/ssh/ssh_host_ed25519_key') && r.read('data/ssh/ssh_host_ecdsa_key.pub'), 'host keys made on the data partition');
  t.equal(r.read('systemctl.log'), '--no-block start wpa_supplicant@wlan0.service\n--no-block start ssh.service\n');
});

t.test('nothing provisioned: wired only, SSH off, the default probe', async (t) => {
  const r = runBoot(t, 'ENTRANCE_URLS: [ws://10.0.2.2:7071/dandelion/ws/]\n');
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

t.test('refuses what it cannot read safely', async (t) => {
  const r = runBoot(t, [
    'BOX_PORT: "80; rm -rf /"',
    'WIFI_COUNTRY: gb',
    'WIFI_SSID: "say \\"hi\\""',
    'WIFI_PASSPHRASE: short',
    `SSH_AUTHORIZED_KEYS: [${KEY}]`,
    '',
  ].join('\n'));
  t.equal(r.code, 0, r.log);
  t.equal(r.read('run/agent.env'), 'DANDELION_HEALTH_URL=http://127.0.0.1:7071/dandelion/\n', 'a bad BOX_PORT falls back to the default');
  t.match(r.log, /refusing BOX_PORT/);
  t.match(r.log, /refusing WIFI_SSID: escapes/);
  t.match(r.log, /refusing SSH_AUTHORIZED_KEYS: write it as a block list/);
  t.equal(r.read('run/wpa_supplicant-wlan0.conf'), undefined, 'no Wi-Fi');
  t.equal(r.read('run/ssh/root_authorized_keys'), undefined, 'no SSH');
});

t.test('Wi-Fi needs a country and a valid passphrase', async (t) => {
  const noCountry = runBoot(t, 'WIFI_SSID: home\nWIFI_PASSPHRASE: longenough\n');
  t.match(noCountry.log, /WIFI_COUNTRY must be/);
  t.equal(noCountry.read('run/wpa_supplicant-wlan0.conf'), undefined);
  const shortPass = runBoot(t, 'WIFI_COUNTRY: DE\nWIFI_SSID: home\nWIFI_PASSPHRASE: short\n');
  t.match(shortPass.log, /refusing WIFI_PASSPHRASE/);
  t.equal(shortPass.read('run/wpa_supplicant-wlan0.conf'), undefined);
  const open = runBoot(t, 'WIFI_COUNTRY: DE\nWIFI_SSID: cafe\n');
  t.match(open.read('run/wpa_supplicant-wlan0.conf') ?? '', /key_mgmt=NONE/, 'no passphrase: an open network');
});
