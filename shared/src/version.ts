/**
 * The version and commit this build reports. `make build` writes build-info.json next to the compiled
 * code; a checkout without it reports package.json's version and "unknown". The standalone binaries
 * (`make binaries`, scripts/binaries/build.mjs) have no files beside them: esbuild replaces
 * `__DANDELION_BUILD_INFO__` with the version and commit at bundle time.
 */
import { readFileSync } from 'node:fs';
import { isRecord } from './protocol/json.js';

/** Defined only inside the esbuild bundle of the standalone binaries; undeclared (typeof 'undefined') elsewhere. */
declare const __DANDELION_BUILD_INFO__: BuildInfo | undefined;

export interface BuildInfo {
  version: string;
  commit: string;
}

let cached: BuildInfo | undefined;

export function buildInfo(): BuildInfo {
  if (cached) return cached;
  if (typeof __DANDELION_BUILD_INFO__ !== 'undefined') return (cached = __DANDELION_BUILD_INFO__);
  const here = new URL('../../', import.meta.url); // build/ (compiled) or the repository root
  for (const candidate of ['build-info.json', '../package.json']) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(new URL(candidate, here), 'utf8'));
      if (isRecord(parsed) && typeof parsed.version === 'string') {
        cached = { version: parsed.version, commit: typeof parsed.commit === 'string' ? parsed.commit : 'unknown' };
        return cached;
      }
    } catch {
      /* intentional: try the next source */
    }
  }
  cached = { version: '0.0.0', commit: 'unknown' };
  return cached;
}
