// `provision sdcard` and `provision show` on a real MBR image (sfdisk, mkfs.fat, mtools, no mocks): the
// card gets exactly the dandelion.yaml asked for, a second run replaces it cleanly, and every refusal
// exits 2 naming the problem while the image stays byte-identical.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, readFileSync, symlinkSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { loadCardConfig } from '../src/card-config.js';
import { asNobody, cliCopy, reachableFolder } from '../../test/helpers/unprivileged.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/dandelion');
/** Where the boot partition starts, in 512-byte sectors (as on Raspberry Pi OS images). */
const BOOT_START = 8192;
/** 40 MiB: FAT32 needs at least 65525 clusters, so with 512-byte clusters a little over 32 MiB. */
const BOOT_SECTORS = 81920;
const TOKEN = 'dlt_Fleet-token_0123456789';
const PASSPHRASE = ' correct horse battery'; // the leading space is part of it
const SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0ZXN0a2V5Zm9ydGhlZGFuZGVsaW9udGVzdHM ops@example';
const CONFIG_TXT = 'arm_64bit=1\nenable_uart=1\n';

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DANDELION_')));
  return new Promise((resolve) => {
    const p = spawn(BIN, args, { env: { ...clean, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** mtools on the image's boot partition, with no user config in the way. */
function mt(command: string, img: string, args: string[]): Buffer {
  return execFileSync(command, ['-i', `${img}@@${BOOT_START * 512}`, ...args], {
    env: { PATH: process.env.PATH, HOME: '/nonexistent', MTOOLSRC: '/dev/null', MTOOLS_SKIP_CHECK: '1' },
  });
}
const cardText = (img: string) => mt('mtype', img, ['::dandelion.yaml']).toString('utf8');
const rootNames = (img: string) => mt('mdir', img, ['-b', '::']).toString('utf8').split('\n').filter(Boolean).sort();
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** A 64 MiB image laid out like the Dandelion SD image: p1 FAT32 (LBA, 0x0c) with a config.txt, p2 Linux. */
function makeImage(dir: string, name = 'box.img', { fat = true } = {}): string {
  const img = path.join(dir, name);
  execFileSync('truncate', ['-s', '64M', img]);
  const table = fat ? `label: dos\nstart=${BOOT_START}, size=${BOOT_SECTORS}, type=c\ntype=83\n` : 'label: dos\nstart=2048, type=83\n';
  execFileSync('sfdisk', ['-q', img], { input: table });
  if (!fat) return img;
  execFileSync('mkfs.fat', ['-F', '32', '-s', '1', '-h', String(BOOT_START), '--offset', String(BOOT_START), img, String(BOOT_SECTORS / 2)], { stdio: 'ignore' });
  const configTxt = path.join(dir, 'config.txt');
  writeFileSync(configTxt, CONFIG_TXT);
  mt('mcopy', img, [configTxt, '::config.txt']);
  return img;
}

function secrets(dir: string): { tokenFile: string; passFile: string; keyFile: string } {
  const tokenFile = path.join(dir, 'token');
  const passFile = path.join(dir, 'wifi-pass');
  const keyFile = path.join(dir, 'ops.pub');
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  writeFileSync(passFile, `${PASSPHRASE}\n`, { mode: 0o600 });
  writeFileSync(keyFile, `${SSH_KEY}\n`);
  return { tokenFile, passFile, keyFile };
}

t.test('writes the dandelion.yaml asked for, and a second run replaces it', async (t) => {
  const dir = t.testdir();
  const img = makeImage(dir);
  const { tokenFile, passFile, keyFile } = secrets(dir);
  const first = await run([
    'provision', 'sdcard', img,
    '--entrance', 'wss://a.example.org/dandelion/ws/', '--entrance', 'wss://b.example.org/dandelion/ws/',
    '--token-file', tokenFile, '--wifi-country', 'GB', '--wifi-ssid', 'Corner Shop', '--wifi-passphrase-file', passFile,
    '--ssh-key', keyFile, '--geoip-loc', '51.5,-0.12', '--set', 'BOX_HTTP_PORT=8080',
  ]);
  t.equal(first.code, 0, first.stderr);
  t.notMatch(first.stdout + first.stderr, TOKEN, 'the token is not printed');
  t.notMatch(first.stdout + first.stderr, PASSPHRASE, 'the passphrase is not printed');

  const text = cardText(img);
  t.match(text, /^# Dandelion box config, written by dandelion provision sdcard \(dandelion [^)]+\) at \d{4}-\d\d-\d\dT/, 'a header says what wrote it and when');
  t.same(parseYaml(text), {
    ENTRANCE_URLS: ['wss://a.example.org/dandelion/ws/', 'wss://b.example.org/dandelion/ws/'],
    ENROLMENT_TOKEN: TOKEN,
    WIFI_COUNTRY: 'GB',
    WIFI_SSID: 'Corner Shop',
    WIFI_PASSPHRASE: PASSPHRASE,
    SSH_AUTHORIZED_KEYS: [SSH_KEY],
    GEOIP: { LOC: '51.5,-0.12' },
    BOX_HTTP_PORT: 8080,
  });
  const readBack = path.join(dir, 'read-back.yaml');
  writeFileSync(readBack, text);
  t.equal(loadCardConfig(readBack, {}).agent.BOX_HTTP_PORT, 8080, 'what the card holds loads through the one loader');
  t.same(rootNames(img), ['::/config.txt', '::/dandelion.yaml']);

  // An interrupted earlier run may have left its temp file: the next run writes over it and renames it away.
  const junk = path.join(dir, 'junk');
  writeFileSync(junk, 'half a file');
  mt('mcopy', img, [junk, '::dandelion.tmp']);
  const second = await run(['provision', 'sdcard', img, '--entrance', 'wss://c.example.org/dandelion/ws/'], { DANDELION_ENROLMENT_TOKEN: TOKEN });
  t.equal(second.code, 0, second.stderr);
  t.same(parseYaml(cardText(img)), { ENTRANCE_URLS: ['wss://c.example.org/dandelion/ws/'], ENROLMENT_TOKEN: TOKEN }, 'replaced, with the token from the environment; no Wi-Fi left over');
  t.same(rootNames(img), ['::/config.txt', '::/dandelion.yaml'], 'no temp file left');
  t.equal(mt('mtype', img, ['::config.txt']).toString(), CONFIG_TXT, 'config.txt untouched');

  // --from starts from a card's file; the options override its keys.
  const from = path.join(dir, 'from.yaml');
  writeFileSync(from, 'ENTRANCE_URLS: [ws://old.example/dandelion/ws/]\nWIFI_COUNTRY: DE\nBOX_PORT: 7100\n');
  const third = await run(['provision', 'sdcard', img, '--from', from, '--entrance', 'wss://d.example.org/dandelion/ws/', '--token-file', tokenFile]);
  t.equal(third.code, 0, third.stderr);
  t.same(parseYaml(cardText(img)), { ENTRANCE_URLS: ['wss://d.example.org/dandelion/ws/'], ENROLMENT_TOKEN: TOKEN, WIFI_COUNTRY: 'DE', BOX_PORT: 7100 });
});

t.test('refusals exit 2, name the problem and leave the card byte-identical', async (t) => {
  const dir = t.testdir();
  const img = makeImage(dir);
  const { tokenFile } = secrets(dir);
  const good = ['--entrance', 'wss://a.example.org/dandelion/ws/', '--token-file', tokenFile];
  t.equal((await run(['provision', 'sdcard', img, ...good])).code, 0);
  const before = sha256(img);
  const cardBefore = cardText(img);
  const fromFile = path.join(dir, 'typo.yaml');
  writeFileSync(fromFile, 'ENTRANCE_URL: wss://typo.example/dandelion/ws/\n');

  const cases: Array<[string, string[], RegExp, NodeJS.ProcessEnv?]> = [
    ['a malformed token', ['--entrance', 'wss://a.example.org/dandelion/ws/', '--token', 'not-a-token'], /ENROLMENT_TOKEN: must be a fleet token/],
    ['an entrance URL with a bad scheme', ['--entrance', 'ftp://a.example.org/', '--token-file', tokenFile], /ENTRANCE_URLS: item 0: must be a ws:\/\//],
    ['--set of an unknown key', [...good, '--set', 'FAVOURITE_COLOUR=blue'], /--set FAVOURITE_COLOUR: not a key/],
    ['--set of another role\'s key', [...good, '--set', 'MIN_HTTP_PEERS=3'], /--set MIN_HTTP_PEERS: not a key/],
    ['an unknown key in --from', [...good, '--from', fromFile], /ENTRANCE_URL: is not a key of a box's dandelion.yaml/],
    ['WIFI_SSID without WIFI_COUNTRY', [...good, '--wifi-ssid', 'Home'], /WIFI_COUNTRY: is required with WIFI_SSID/],
    ['a bad value given by --set', [...good, '--set', 'BOX_PORT=seventy'], /BOX_PORT: must be a number/],
    ['no token anywhere', ['--entrance', 'wss://a.example.org/dandelion/ws/'], /ENROLMENT_TOKEN: required on a card/],
    ['a key given twice', [...good, '--set', 'ENTRANCE_URLS=[ws://x/]'], /ENTRANCE_URLS given twice/],
    ['an unknown option', [...good, '--wifi-password', 'x'], /Unknown option '--wifi-password'/],
  ];
  for (const [name, args, expected, env] of cases) {
    const r = await run(['provision', 'sdcard', img, ...args], env);
    t.equal(r.code, 2, `${name}: exit 2`);
    t.match(r.stderr, expected, `${name}: named`);
    t.notMatch(r.stderr, /\n\s+at /, `${name}: no stack trace`);
  }
  t.equal(sha256(img), before, 'the image is byte-identical after every refusal');
  t.equal(cardText(img), cardBefore);
});

t.test('targets that cannot be written exit 2 with the reason', async (t) => {
  const dir = t.testdir();
  const { tokenFile } = secrets(dir);
  const good = ['--entrance', 'wss://a.example.org/dandelion/ws/', '--token-file', tokenFile];
  const noFat = makeImage(dir, 'linux-only.img', { fat: false });
  const noFatBefore = sha256(noFat);
  const small = path.join(dir, 'small.img');
  writeFileSync(small, 'not an image at all');
  const xz = path.join(dir, 'box.img.xz');
  writeFileSync(path.join(dir, 'box.img'), Buffer.alloc(4096));
  execFileSync('xz', ['-k', path.join(dir, 'box.img')]);

  const cases: Array<[string, string, RegExp]> = [
    ['an image without a FAT partition', noFat, /has no FAT partition .*partitions found: 1: 0x83/],
    ['a non-existent target', path.join(dir, 'nowhere.img'), /nowhere\.img does not exist/],
    ['an .xz image', xz, /compressed image \(\.xz\); decompress it first \(xz -dk /],
    ['a file with no partition table', small, /no MBR partition table/],
  ];
  for (const [name, target, expected] of cases) {
    const r = await run(['provision', 'sdcard', target, ...good]);
    t.equal(r.code, 2, `${name}: exit 2`);
    t.match(r.stderr, expected, `${name}: named`);
    t.notMatch(r.stderr, /\n\s+at /, `${name}: no stack trace`);
  }
  t.equal(sha256(noFat), noFatBefore, 'the image without FAT is untouched');

  // Without mtools on PATH (only what the launcher itself needs), the write is refused before it starts.
  const img = makeImage(dir);
  const before = sha256(img);
  const bin = path.join(dir, 'bin-without-mtools');
  mkdirSync(bin);
  symlinkSync(process.execPath, path.join(bin, 'node'));
  for (const tool of ['dirname', 'readlink']) symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`]).toString().trim(), path.join(bin, tool));
  const noMtools = await run(['provision', 'sdcard', img, ...good], { PATH: bin });
  t.equal(noMtools.code, 2, 'mtools missing: exit 2');
  t.match(noMtools.stderr, /mcopy not found: install mtools/);
  t.equal(sha256(img), before, 'untouched');

  // Run as an ordinary user: root may write a read-only file. As root, drop to nobody with setpriv, on
  // copies of the CLI and the image in a folder nobody can reach: the checkout may sit in a private folder.
  const asRoot = process.getuid?.() === 0;
  const reachable = asRoot ? reachableFolder(t, 'dandelion-sdcard-') : dir;
  const readOnly = path.join(reachable, 'read-only.img');
  copyFileSync(img, readOnly);
  chmodSync(readOnly, 0o444);
  const asUser = asRoot ? asNobody([process.execPath, await cliCopy(reachable)]) : [BIN];
  const [cmd, ...pre] = asUser as [string, ...string[]];
  const r = spawnSync(cmd, [...pre, 'provision', 'sdcard', readOnly, '--entrance', 'wss://a.example.org/dandelion/ws/'], {
    env: { PATH: process.env.PATH, DANDELION_ENROLMENT_TOKEN: TOKEN },
  });
  t.equal(r.status, 2, 'not writable: exit 2');
  t.match(r.stderr.toString(), /read-only\.img is not writable by this user/);
});

t.test('show prints the card\'s file with the secrets masked unless --reveal', async (t) => {
  const dir = t.testdir();
  const img = makeImage(dir);
  const { tokenFile, passFile } = secrets(dir);
  const notYet = await run(['provision', 'show', img]);
  t.equal(notYet.code, 1, 'a card never provisioned: exit 1');
  t.match(notYet.stderr, /has no dandelion\.yaml/);
  t.equal((await run(['provision', 'sdcard', img, '--entrance', 'wss://a.example.org/dandelion/ws/', '--token-file', tokenFile, '--wifi-country', 'GB', '--wifi-ssid', 'Home', '--wifi-passphrase-file', passFile])).code, 0);

  const shown = await run(['provision', 'show', img]);
  t.equal(shown.code, 0, shown.stderr);
  t.notMatch(shown.stdout, TOKEN, 'token masked');
  t.notMatch(shown.stdout, PASSPHRASE, 'passphrase masked');
  const masked = parseYaml(shown.stdout) as Record<string, unknown>;
  t.match(masked, { ENROLMENT_TOKEN: /masked/, WIFI_PASSPHRASE: /masked/, WIFI_SSID: 'Home', ENTRANCE_URLS: ['wss://a.example.org/dandelion/ws/'] });
  t.match(shown.stdout, /^# Dandelion box config, written by/, 'comments kept');

  const revealed = await run(['provision', 'show', img, '--reveal']);
  t.equal(revealed.code, 0);
  t.equal(revealed.stdout, cardText(img), '--reveal prints the file as it is');
});

t.test('--help explains the secrets and scripting many cards', async (t) => {
  const help = await run(['provision', 'sdcard', '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /prefer\s+--token-file or the environment variable DANDELION_ENROLMENT_TOKEN/);
  t.match(help.stdout, /for i in \$\(seq -w 1 100\)/);
  const top = await run(['--help']);
  t.match(top.stdout, /provision sdcard\|show\|env/);
});
