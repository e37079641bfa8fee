// `dandelion release keygen|sign|verify` as an operator runs it: a new key (0600, never over an existing
// file), a signed manifest that verifies against that key, and a binary that was changed, truncated or
// signed by another key refused with exit 1 and the reason; bad usage is exit 2. The committed
// release/release-keys.txt parses and is what verify trusts without --keys.
import t from 'tap';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runDandelion } from '../../test/helpers/cli.js';
import { releaseKeyIdOf, verifyRelease } from '../src/release/manifest.js';
import { parseReleaseKeys, trustedReleaseKeys } from '../src/release/trusted-keys.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

t.test('keygen, sign, verify; changed, truncated and foreign releases refused with exit 1', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dandelion-release-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const key = path.join(dir, 'release.key');
  const gen = await runDandelion(['release', 'keygen', '--out', key]);
  t.equal(gen.code, 0, gen.stderr);
  t.equal(statSync(key).mode & 0o777, 0o600, 'the private key is readable by its owner only');
  const keys = path.join(dir, 'keys.txt');
  writeFileSync(keys, gen.stdout);
  const publicText = gen.stdout.split('\n').find((l) => l !== '' && !l.startsWith('#')) ?? '';
  t.ok(parseReleaseKeys(gen.stdout).has(releaseKeyIdOf(publicText)), 'keygen prints a key file line');
  t.equal((await runDandelion(['release', 'keygen', '--out', key])).code, 2, 'never over an existing key');

  const binary = path.join(dir, 'dandelion-agent-linux-x64');
  writeFileSync(binary, Buffer.alloc(100_000, 7));
  const signed = await runDandelion(['release', 'sign', '--key', key, '--binary', binary, '--version', '1.4.0', '--arch', 'x64', '--min-from', '1.2.0']);
  t.equal(signed.code, 0, signed.stderr);
  t.match(signed.stderr, /not in this build's release\/release-keys\.txt/, 'a key the build does not trust is pointed out');
  const manifest = verifyRelease(readFileSync(`${binary}.release`, 'utf8'), parseReleaseKeys(gen.stdout));
  t.ok(manifest.ok);
  t.match(manifest.ok && manifest.manifest, { VERSION: '1.4.0', ARCH: 'x64', SIZE: 100_000, MIN_FROM_VERSION: '1.2.0', ALLOW_DOWNGRADE: false });

  const verify = (extra: string[] = ['--keys', keys]) => runDandelion(['release', 'verify', '--binary', binary, '--release', `${binary}.release`, ...extra]);
  const ok = await verify();
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /ok: 1\.4\.0 for x64, 100000 bytes, from 1\.2\.0/);
  const untrusted = await verify([]);
  t.equal(untrusted.code, 1, 'without --keys, the build\'s trusted keys decide');
  t.match(untrusted.stderr, /refused: .*not a release key this build trusts/);

  appendFileSync(binary, 'x');
  t.match(await verify(), { code: 1, stderr: /refused: .* is 100001 bytes, the release says 100000/ }, 'a changed length');
  truncateSync(binary, 100_000);
  writeFileSync(binary, Buffer.alloc(100_000, 8));
  t.match(await verify(), { code: 1, stderr: /refused: the SHA-256 of .* is not the release's/ }, 'changed bytes');
  const text = readFileSync(`${binary}.release`, 'utf8').trim();
  writeFileSync(`${binary}.release`, text.slice(0, text.length - 10));
  t.match(await verify(), { code: 1, stderr: /refused: the release signature does not verify/ }, 'a truncated manifest');
  const other = path.join(dir, 'other.key');
  const otherKeys = path.join(dir, 'other.txt');
  writeFileSync(otherKeys, (await runDandelion(['release', 'keygen', '--out', other])).stdout);
  t.match(await verify(['--keys', otherKeys]), { code: 1, stderr: /not a release key this build trusts/ }, 'another key');
});

t.test('bad usage is exit 2 naming the option', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dandelion-release-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const key = path.join(dir, 'k');
  await runDandelion(['release', 'keygen', '--out', key]);
  const bin = path.join(dir, 'b');
  writeFileSync(bin, 'x');
  const cases: Array<[string[], RegExp]> = [
    [['release'], /name a subcommand/],
    [['release', 'publish'], /unknown subcommand publish/],
    [['release', 'keygen'], /--out is required/],
    [['release', 'sign', '--key', key, '--binary', bin, '--arch', 'x64'], /--version is required/],
    [['release', 'sign', '--key', key, '--binary', bin, '--arch', 'x64', '--version', '1.0'], /--version 1\.0 is not/],
    [['release', 'sign', '--key', key, '--binary', bin, '--arch', 'ia32', '--version', '1.0.0'], /--arch must be one of x64, arm64, armv7/],
    [['release', 'sign', '--key', key, '--binary', bin, '--arch', 'x64', '--version', '1.0.0', '--min-from', 'old'], /--min-from old is not/],
    [['release', 'sign', '--key', bin, '--binary', bin, '--arch', 'x64', '--version', '1.0.0'], /--key .* is not a private key/],
    [['release', 'sign', '--key', key, '--binary', path.join(dir, 'none'), '--arch', 'x64', '--version', '1.0.0'], /cannot read --binary/],
    [['release', 'verify', '--binary', bin], /--release is required/],
    [['release', 'verify', '--binary', bin, '--release', bin, '--keys', bin], /--keys: .*not an Ed25519 public key/],
    [['release', 'verify', '--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [args, message] of cases) t.match(await runDandelion(args), { code: 2, stderr: message }, args.join(' '));
  const help = await runDandelion(['release', '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /dandelion release sign --key KEYFILE/);
  t.match((await runDandelion(['--help'])).stdout, /release keygen\|sign\|verify/);
});

t.test("the committed release/release-keys.txt is this build's trusted keys", async (t) => {
  const committed = parseReleaseKeys(readFileSync(path.join(ROOT, 'release', 'release-keys.txt'), 'utf8'));
  t.ok(committed.size >= 1);
  t.same([...trustedReleaseKeys().keys()], [...committed.keys()]);
  t.throws(() => parseReleaseKeys('# only a comment\n'), /no release key/);
  t.throws(() => parseReleaseKeys('# a\nnot-a-key\n', 'f'), /f, line 2: not an Ed25519 public key/);
});
