/**
 * The release public keys this entrance checks uploads with: the same ones the boxes accept (docs/updates.md),
 * so a release no box would take is refused at the upload instead of at every box.
 *
 * WIRING POINT: shared/src/release/trusted-keys.ts (the box side's) is the one source of these keys; until it
 * lands this reads the committed list, release/release-keys.txt (one base64 SPKI per line, `#` comments),
 * the same file that module reads outside the standalone binary. Point `trustedReleaseKeys` at it then.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { parsePublicKey } from '../../../shared/src/enrolment/codec.js';
import { releaseKeyIdOf } from '../../../shared/src/release/manifest.js';

/** Key ID → public key. */
export type ReleaseKeys = ReadonlyMap<string, KeyObject>;

export function trustedReleaseKeys(): ReleaseKeys {
  // From build/entrance/src/updates/ (compiled) or entrance/src/updates/ (sources): the repository's release/.
  const candidates = ['../../../../release/release-keys.txt', '../../../release/release-keys.txt'].map((rel) => new URL(rel, import.meta.url));
  const file = candidates.find((url) => existsSync(url));
  return file === undefined ? new Map() : parseReleaseKeys(readFileSync(file, 'utf8'));
}

/** Key lines → key ID → key; a line that is not a key is skipped (the box side's module refuses the build). */
function parseReleaseKeys(text: string): ReleaseKeys {
  const keys = new Map<string, KeyObject>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const key = parsePublicKey(line);
    if (key !== undefined) keys.set(releaseKeyIdOf(line), key);
  }
  return keys;
}
