// `provision env` gives the image's first-boot script the SD-image keys as shell assignments that
// survive eval whatever characters the schema allows, and a card's file is judged against both schemas.
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { ConfigError } from '../../shared/src/config/spec.js';
import { loadCardConfig } from '../src/card-config.js';
import { shellQuote } from '../src/env.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const BIN = path.join(ROOT, 'bin', 'dandelion');
// The schema forbids " and \ and control characters in both; everything else a shell cares about is here.
const SSID = "Tom's $HOME `id` ;&|*";
const PASSPHRASE = "it's $(reboot) 'q'";
const KEYS = ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGtleW9uZQ one@example', "ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB it's two"];

/** Evaluate `provision env` in sh as first boot would, and print the named variables NUL-separated. */
function evalInSh(file: string, names: string[]): string[] {
  const script = `vars=$("$0" provision env --config "$1") || exit 9; eval "$vars"; printf '%s\\0' ${names.map((n) => `"$${n}"`).join(' ')}`;
  const out = execFileSync('sh', ['-c', script, BIN, file], { env: { PATH: process.env.PATH } }).toString('utf8');
  return out.split('\0').slice(0, -1);
}

t.test('env output round-trips through sh eval', async (t) => {
  const dir = t.testdir();
  const file = path.join(dir, 'dandelion.yaml');
  writeFileSync(file, [
    'ENTRANCE_URLS: [wss://a.example.org/dandelion/ws/]',
    'ENROLMENT_TOKEN: dlt_abc',
    'WIFI_COUNTRY: GB',
    `WIFI_SSID: ${JSON.stringify(SSID)}`,
    `WIFI_PASSPHRASE: ${JSON.stringify(PASSPHRASE)}`,
    'SSH_AUTHORIZED_KEYS:',
    ...KEYS.map((k) => `  - ${JSON.stringify(k)}`),
    '',
  ].join('\n'));
  t.same(evalInSh(file, ['WIFI_COUNTRY', 'WIFI_SSID', 'WIFI_PASSPHRASE', 'SSH_AUTHORIZED_KEYS']), ['GB', SSID, PASSPHRASE, KEYS.join('\n')]);

  const wired = path.join(dir, 'wired.yaml');
  writeFileSync(wired, 'ENROLMENT_TOKEN: dlt_abc\n');
  t.same(evalInSh(wired, ['WIFI_SSID', 'SSH_AUTHORIZED_KEYS']), ['', ''], 'unset keys are empty');
  t.equal(shellQuote("a'b"), "'a'\\''b'");
});

t.test('a bad file: exit 2 naming each key, nothing on stdout to eval', async (t) => {
  const dir = t.testdir();
  const file = path.join(dir, 'bad.yaml');
  writeFileSync(file, 'WIFI_SSID: Home\nBOX_PORT: seventy\nWIFI_COUNTRY: gb\nENTRANCE_URL: ws://typo/\n');
  const r = spawnSync(BIN, ['provision', 'env', '--config', file], { env: { PATH: process.env.PATH } });
  t.equal(r.status, 2);
  t.equal(r.stdout.toString(), '');
  const stderr = r.stderr.toString();
  for (const key of ['BOX_PORT', 'WIFI_COUNTRY', 'ENTRANCE_URL']) t.match(stderr, new RegExp(`\\b${key}: `), `${key} named`);
  t.notMatch(stderr, /\n\s+at /, 'no stack trace');
  // The documented first-boot pattern stops on a bad file (eval "$(…)" || exit would not: eval of '' succeeds).
  const script = 'vars=$("$0" provision env --config "$1") || exit 7; eval "$vars"; echo went on';
  const stopped = spawnSync('sh', ['-c', script, BIN, file], { env: { PATH: process.env.PATH } });
  t.equal(stopped.status, 7, 'the script stops');
  t.equal(stopped.stdout.toString(), '');
});

t.test('a card file is judged against the agent and the SD-image schemas together', async (t) => {
  const dir = t.testdir();
  const file = path.join(dir, 'c.yaml');
  writeFileSync(file, 'BOX_PORT: 0\nWIFI_PASSPHRASE: abcdefgh\nSSH_AUTHORIZED_KEYS: [not a key]\nENROLMENT_TOKEN: x\n');
  try {
    loadCardConfig(file, {});
    t.fail('should throw');
  } catch (err) {
    t.ok(err instanceof ConfigError);
    t.same((err as ConfigError).problems.map((p) => p.key).sort(), ['ENROLMENT_TOKEN', 'SSH_AUTHORIZED_KEYS', 'WIFI_SSID'], 'all problems of both schemas at once');
  }
  writeFileSync(file, 'ENROLMENT_TOKEN: dlt_abc\n');
  const { agent, provision } = loadCardConfig(file, { DANDELION_WIFI_COUNTRY: 'FR' });
  t.equal(agent.ENROLMENT_TOKEN, 'dlt_abc');
  t.equal(provision.WIFI_COUNTRY, 'FR', 'DANDELION_<KEY> applies as for any role');
  const example = loadCardConfig(path.join(ROOT, 'provisioning', 'dandelion.yaml.example'), {});
  t.same(example.provision.SSH_AUTHORIZED_KEYS, [], 'the rendered example loads cleanly');
});
