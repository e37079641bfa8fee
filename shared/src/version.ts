/**
 * The version and commit this build reports. `make build` writes build-info.json next to the compiled
 * code; a checkout without it reports package.json's version and "unknown".
 */
import { readFileSync } from 'node:fs';

export interface BuildInfo {
  version: string;
  commit: string;
}

let cached: BuildInfo | undefined;

export function buildInfo(): BuildInfo {
  if (cached) return cached;
  const here = new URL('../../', import.meta.url); // build/ (compiled) or the repository root
  for (const candidate of ['build-info.json', '../package.json']) {
    try {
      const parsed = JSON.parse(readFileSync(new URL(candidate, here), 'utf8')) as Partial<BuildInfo>;
      if (typeof parsed.version === 'string') {
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
