// Writes build/build-info.json: the version from package.json and the git commit, baked into builds.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  if (dirty) commit += '-dirty';
} catch {
  // not a git checkout (a source tarball, a docker build): the commit given in DANDELION_COMMIT, or unknown
  commit = process.env.DANDELION_COMMIT || 'unknown';
}
mkdirSync('build', { recursive: true });
writeFileSync('build/build-info.json', `${JSON.stringify({ version, commit })}\n`);
