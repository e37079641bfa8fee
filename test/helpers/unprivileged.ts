/**
 * For tests that run something as another user (nobody): a folder that user can reach, and a copy of
 * the CLI inside it. The checkout may sit in a private folder (mode 700, e.g. root's home, where a root
 * newcomer clones first), so nothing another user runs or reads may stay under the checkout's path.
 */
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

/** nobody:nogroup on Debian: the unprivileged user, as under the agent's systemd unit. */
export const NOBODY = 65534;

/** The build/ folder this compiled helper sits in (build/test/helpers/). */
const BUILD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

/**
 * A fresh folder under the system's temp folder, mode 755, removed at teardown. Throws naming the
 * folder on the way that another user cannot pass through (a private TMPDIR), rather than letting the
 * unprivileged process fail later with a bare "Permission denied".
 */
export function reachableFolder(t: Teardown, prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  for (let d = path.dirname(dir); ; d = path.dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) throw new Error(`${d} is not searchable by other users: point TMPDIR at a folder they can reach`);
    if (d === path.dirname(d)) break;
  }
  return dir;
}

/**
 * The compiled CLI (build/bin/dandelion.js and every module it loads, node_modules included) as one
 * file in `dir`, for `node <file> …` as another user. One esbuild bundle instead of a copy of build/
 * and node_modules (250 MB); the bundle runs the same compiled code bin/dandelion runs.
 */
export async function cliCopy(dir: string): Promise<string> {
  const outfile = path.join(dir, 'dandelion.mjs');
  await esbuild.build({
    entryPoints: [path.join(BUILD, 'bin', 'dandelion.js')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    // CommonJS dependencies call require() on builtins; an ES module has no require of its own.
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    logLevel: 'silent',
  });
  chmodSync(outfile, 0o644);
  return outfile;
}

/**
 * The argv that runs `command` as nobody (for root; setpriv, as in util-linux), with NODE_OPTIONS unset:
 * tap adds to every child's NODE_OPTIONS an --import of its process tracker, a file under the checkout,
 * which nobody may not be able to read, and a Node that cannot load it does not start.
 */
export function asNobody(command: string[]): string[] {
  return ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'env', '-u', 'NODE_OPTIONS', ...command];
}
