/**
 * The release public keys this build trusts (docs/updates.md). A box installs only releases signed by one of
 * them, and an entrance refuses to store any other. No config key can add one: an entrance that is broken
 * into, or a config file someone edited, cannot make a box take a binary the operator did not sign.
 *
 * In the standalone binary the keys are baked in at bundle time (scripts/binaries/build.mjs --release-keys,
 * as the version is); everywhere else they are read from release/release-keys.txt in the repository.
 */
import { readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { parsePublicKey } from '../enrolment/codec.js';
import { releaseKeyIdOf } from './manifest.js';

/** Defined only inside the esbuild bundle of the standalone binaries: the key file's text. */
declare const __DANDELION_RELEASE_KEYS__: string | undefined;

/** The committed key file, relative to this module compiled (build/shared/src/release/) or not (shared/src/release/). */
const KEY_FILE_CANDIDATES = ['../../../../release/release-keys.txt', '../../../release/release-keys.txt'];

/**
 * Key ID → public key from a key file's text: one base64 SPKI Ed25519 key per line, `#` comments and blank
 * lines ignored. Throws naming the line of anything else: a key file that does not parse must stop a build,
 * never quietly trust fewer keys.
 */
export function parseReleaseKeys(text: string, where = 'release keys'): Map<string, KeyObject> {
  const keys = new Map<string, KeyObject>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const key = parsePublicKey(line);
    if (key === undefined) throw new Error(`${where}, line ${i + 1}: not an Ed25519 public key (base64 SPKI, as 'dandelion release keygen' prints)`);
    keys.set(releaseKeyIdOf(line), key);
  });
  if (keys.size === 0) throw new Error(`${where}: no release key`);
  return keys;
}

/** Key ID → public key. */
export type ReleaseKeys = ReadonlyMap<string, KeyObject>;

let cached: Map<string, KeyObject> | undefined;

export function trustedReleaseKeys(): ReleaseKeys {
  if (cached) return cached;
  if (typeof __DANDELION_RELEASE_KEYS__ !== 'undefined') return (cached = parseReleaseKeys(__DANDELION_RELEASE_KEYS__, 'baked-in release keys'));
  for (const candidate of KEY_FILE_CANDIDATES) {
    const file = new URL(candidate, import.meta.url);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue; // not this layout: try the next
    }
    return (cached = parseReleaseKeys(text, file.pathname));
  }
  throw new Error('release/release-keys.txt not found: no release key is trusted');
}
