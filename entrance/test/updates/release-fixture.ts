/**
 * Releases for the entrance's update tests: random bytes signed with a release key made by the test (the
 * entrance is told to trust it), and the other parts a test needs around them.
 */
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { publicKeyText } from '../../../shared/src/enrolment/codec.js';
import { releaseKeyIdOf, signRelease } from '../../../shared/src/release/manifest.js';
import type { ReleaseArch } from '../../../shared/src/release/manifest.js';

export interface TestReleaseKey {
  privateKey: KeyObject;
  keyId: string;
  /** What the entrance trusts: this key alone. */
  trusted: ReadonlyMap<string, KeyObject>;
}

export function releaseKey(): TestReleaseKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const keyId = releaseKeyIdOf(publicKeyText(privateKey));
  return { privateKey, keyId, trusted: new Map([[keyId, publicKey]]) };
}

export interface TestRelease {
  binary: Buffer;
  /** The signed manifest line. */
  line: string;
  version: string;
  arch: ReleaseArch;
}

/** A release of `size` random bytes; `manifest` overrides what the signed manifest says (a lie about SIZE, SHA256 …). */
export function makeRelease(key: TestReleaseKey, version: string, arch: ReleaseArch, size: number, manifest: { SIZE?: number; SHA256?: string } = {}): TestRelease {
  const binary = randomBytes(size);
  const line = signRelease({
    PRODUCT: 'dandelion-agent', VERSION: version, ARCH: arch, SIZE: size, SHA256: createHash('sha256').update(binary).digest('hex'),
    MIN_FROM_VERSION: '0.0.0', ALLOW_DOWNGRADE: false, CREATED: Math.floor(Date.now() / 1000), KEY_ID: key.keyId, ...manifest,
  }, key.privateKey);
  return { binary, line, version, arch };
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
