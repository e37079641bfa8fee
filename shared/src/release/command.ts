/**
 * `dandelion release keygen|sign|verify`: the operator's release tools (docs/updates.md). The private
 * release key stays on the operator's offline machine; only its public half goes into release/release-keys.txt.
 * Exit codes: 0 done, 1 a release refused (the reason is printed), 2 bad usage.
 */
import { createHash, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { UsageError, parseRoleArgs } from '../cli.js';
import { publicKeyText } from '../enrolment/codec.js';
import { writeFileAtomic, writeNewFileDurably } from '../fs-atomic.js';
import { messageOf } from '../protocol/errors.js';
import { isOneOf } from '../protocol/fields.js';
import { MAX_RELEASE_BYTES, RELEASE_ARCHES, isVersion, releaseKeyIdOf, signRelease, verifyRelease } from './manifest.js';
import type { ReleaseManifest } from './manifest.js';
import { parseReleaseKeys, trustedReleaseKeys } from './trusted-keys.js';

const HELP = `Usage:
  dandelion release keygen --out KEYFILE
      a new Ed25519 release key: the private key (PEM, mode 0600) in KEYFILE, which must not exist;
      prints the public key text for release/release-keys.txt
  dandelion release sign --key KEYFILE --binary FILE --version V --arch ARCH [--min-from V] [--allow-downgrade] [--out FILE.release]
      the signed manifest of FILE (ARCH: ${RELEASE_ARCHES.join(', ')}; --min-from: the oldest version that may
      update to it, default 0.0.0; default --out: FILE.release)
  dandelion release verify --binary FILE --release FILE.release [--keys KEYFILE]
      checks the signature with the keys this build trusts (or those of --keys, one public key per line)
      and the binary's size and SHA-256

Exit codes: 0 done, 1 the release is refused (the reason is printed), 2 bad usage.
`;

const OPTIONS = {
  out: { type: 'string' },
  key: { type: 'string' },
  keys: { type: 'string' },
  binary: { type: 'string' },
  release: { type: 'string' },
  version: { type: 'string' },
  arch: { type: 'string' },
  'min-from': { type: 'string' },
  'allow-downgrade': { type: 'boolean' },
} as const;

export async function main(args: string[]): Promise<void> {
  const opts = parseRoleArgs(args, OPTIONS);
  const [sub, ...extra] = opts.positionals;
  if (opts.help) {
    process.stdout.write(HELP);
    return;
  }
  if (sub === undefined) throw new UsageError('release: name a subcommand: keygen, sign or verify');
  if (extra.length > 0) throw new UsageError(`release ${sub}: unexpected argument ${extra[0]}`);
  const v = opts.values;
  switch (sub) {
    case 'keygen': return keygen(required(v, 'out', sub));
    case 'sign': return signCommand(v, sub);
    case 'verify': return verifyCommand(v, sub);
    default: throw new UsageError(`release: unknown subcommand ${sub}`);
  }
}

function required(values: Record<string, unknown>, name: string, sub: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') throw new UsageError(`release ${sub}: --${name} is required`);
  return value;
}

async function keygen(out: string): Promise<void> {
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  try {
    await writeNewFileDurably(out, pem, 0o600);
  } catch (err) {
    throw new UsageError(`release keygen: cannot create ${out}: ${messageOf(err)}`);
  }
  const text = publicKeyText(privateKey);
  process.stdout.write(`# release key ${releaseKeyIdOf(text)}, private half in ${path.resolve(out)}; keep it offline\n${text}\n`);
}

async function signCommand(v: Record<string, unknown>, sub: string): Promise<void> {
  const keyFile = required(v, 'key', sub);
  const binary = required(v, 'binary', sub);
  const version = required(v, 'version', sub);
  const arch = required(v, 'arch', sub);
  const minFrom = typeof v['min-from'] === 'string' ? v['min-from'] : '0.0.0';
  if (!isVersion(version)) throw new UsageError(`release sign: --version ${version} is not MAJOR.MINOR.PATCH[-PRERELEASE]`);
  if (!isVersion(minFrom)) throw new UsageError(`release sign: --min-from ${minFrom} is not MAJOR.MINOR.PATCH[-PRERELEASE]`);
  if (!isOneOf(RELEASE_ARCHES, arch)) throw new UsageError(`release sign: --arch must be one of ${RELEASE_ARCHES.join(', ')}`);
  const key = await readPrivateKey(keyFile);
  const { size, sha256 } = await digest(binary, sub);
  if (size === 0 || size > MAX_RELEASE_BYTES) throw new UsageError(`release sign: ${binary} is ${size} bytes; a release is 1 to ${MAX_RELEASE_BYTES}`);
  const keyText = publicKeyText(key);
  const manifest: ReleaseManifest = {
    PRODUCT: 'dandelion-agent', VERSION: version, ARCH: arch, SIZE: size, SHA256: sha256, MIN_FROM_VERSION: minFrom,
    ALLOW_DOWNGRADE: v['allow-downgrade'] === true, CREATED: Math.floor(Date.now() / 1000), KEY_ID: releaseKeyIdOf(keyText),
  };
  const out = typeof v.out === 'string' ? v.out : `${binary}.release`;
  await writeFileAtomic(out, `${signRelease(manifest, key)}\n`);
  process.stdout.write(`${out}: ${version} for ${arch}, ${size} bytes, SHA-256 ${sha256}, key ${manifest.KEY_ID}\n`);
  if (!trustedReleaseKeysSafe().has(manifest.KEY_ID)) {
    process.stderr.write(`dandelion: warning: key ${manifest.KEY_ID} is not in this build's release/release-keys.txt; boxes built from it refuse this release\n`);
  }
}

async function verifyCommand(v: Record<string, unknown>, sub: string): Promise<void> {
  const binary = required(v, 'binary', sub);
  const releaseFile = required(v, 'release', sub);
  let keys: ReadonlyMap<string, KeyObject>;
  try {
    keys = typeof v.keys === 'string' ? parseReleaseKeys(await readFile(v.keys, 'utf8'), v.keys) : trustedReleaseKeys();
  } catch (err) {
    throw new UsageError(`release verify: --keys: ${messageOf(err)}`);
  }
  let text: string;
  try {
    text = await readFile(releaseFile, 'utf8');
  } catch (err) {
    throw new UsageError(`release verify: cannot read ${releaseFile}: ${messageOf(err)}`);
  }
  const check = verifyRelease(text, keys);
  if (!check.ok) throw new Error(`refused: ${check.reason}`);
  const { size, sha256 } = await digest(binary, sub);
  const m = check.manifest;
  if (size !== m.SIZE) throw new Error(`refused: ${binary} is ${size} bytes, the release says ${m.SIZE}`);
  if (sha256 !== m.SHA256) throw new Error(`refused: the SHA-256 of ${binary} is not the release's`);
  process.stdout.write(`ok: ${m.VERSION} for ${m.ARCH}, ${m.SIZE} bytes, from ${m.MIN_FROM_VERSION}${m.ALLOW_DOWNGRADE ? ', downgrade allowed' : ''}, signed by key ${m.KEY_ID}\n`);
}

/** The trusted keys, or none when this checkout has no key file (sign only warns with them). */
function trustedReleaseKeysSafe(): ReadonlyMap<string, KeyObject> {
  try {
    return trustedReleaseKeys();
  } catch {
    return new Map();
  }
}

async function readPrivateKey(file: string): Promise<KeyObject> {
  let key: KeyObject;
  try {
    key = createPrivateKey(await readFile(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`release sign: --key ${file} is not a private key: ${messageOf(err)}`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new UsageError(`release sign: --key ${file} is not an Ed25519 key`);
  return key;
}

async function digest(file: string, sub: string): Promise<{ size: number; sha256: string }> {
  try {
    const { size } = await stat(file);
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
    return { size, sha256: hash.digest('hex') };
  } catch (err) {
    throw new UsageError(`release ${sub}: cannot read --binary ${file}: ${messageOf(err)}`);
  }
}
