/**
 * The agent binaries the update tests install (x64 for test/binary/agent-update.test.ts, arm64 for the SD
 * image's test/image/agent-update.test.ts), built by scripts/binaries/build.mjs with a test release key
 * baked in (--release-keys) and another version (--version), cached per architecture under
 * build/update-test/<hash of the binary's inputs and arch>/ so a second run reuses them. The test key is made once and kept beside the
 * cache (build/update-test/release.key): it is a test key, trusted only by these binaries.
 */
import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { publicKeyText } from '../../shared/src/enrolment/codec.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const CACHE = path.join(ROOT, 'build', 'update-test');

/** What the binary is made of, as the Makefile's BINARY_INPUTS lists it (the commit it reports is left out). */
function inputFiles(): string[] {
  const walk = (dir: string): string[] => readdirSync(path.join(ROOT, dir), { recursive: true }).map((f) => path.join(dir, String(f))).filter((f) => f.endsWith('.ts'));
  return [...['bin', 'shared/src', 'agent/src', 'provisioning/src'].flatMap(walk), 'binaries/base-nodes.json', ...readdirSync(path.join(ROOT, 'scripts/binaries')).map((f) => `scripts/binaries/${f}`), 'package-lock.json'].sort();
}

export function testReleaseKey(): KeyObject {
  const file = path.join(CACHE, 'release.key');
  if (!existsSync(file)) {
    mkdirSync(CACHE, { recursive: true });
    writeFileSync(file, generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  }
  return createPrivateKey(readFileSync(file, 'utf8'));
}

export type TestArch = 'x64' | 'arm64';

export interface TestBinary { file: string; version: string; arch: TestArch; built: 'cached' | number }

/** The binary for `arch` reporting `version`, trusting only the test key: from the cache, or built now (its build time in ms). */
export function testBinary(version: string, arch: TestArch = 'x64'): TestBinary {
  const keyText = publicKeyText(testReleaseKey());
  const hash = createHash('sha256');
  for (const f of inputFiles()) hash.update(f).update(readFileSync(path.join(ROOT, f)));
  hash.update(keyText).update(version).update(arch);
  const dir = path.join(CACHE, hash.digest('hex').slice(0, 16));
  // x64 keeps its historical file name, so a cache made before arm64 existed is still used.
  const name = arch === 'x64' ? `dandelion-${version}` : `dandelion-${arch}-${version}`;
  const file = path.join(dir, name);
  if (existsSync(file) && statSync(file).size > 0) return { file, version, arch, built: 'cached' };
  // Older builds of this version and arch are of older inputs: drop them, they are 100 MB each.
  for (const old of existsSync(CACHE) ? readdirSync(CACHE) : []) {
    if (/^[0-9a-f]{16}$/.test(old) && old !== path.basename(dir) && existsSync(path.join(CACHE, old, name))) rmSync(path.join(CACHE, old), { recursive: true, force: true });
  }
  const work = `${dir}.${arch}-${version}.tmp`;
  mkdirSync(work, { recursive: true });
  const keys = path.join(work, 'release-keys.txt');
  writeFileSync(keys, `${keyText}\n`);
  const started = Date.now();
  execFileSync('node', [path.join(ROOT, 'scripts', 'binaries', 'build.mjs'), '--release-keys', keys, '--version', version, '--out', work, `linux-${arch}`], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const took = Date.now() - started;
  mkdirSync(dir, { recursive: true });
  renameSync(path.join(work, `dandelion-agent-linux-${arch}`), file);
  rmSync(work, { recursive: true, force: true });
  return { file, version, arch, built: took };
}
