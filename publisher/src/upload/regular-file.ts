/**
 * The one way the publisher opens a file it sends to boxes or serves to viewers. Whatever can write in
 * the watched folder (the encoder, but also a careless script or another local user) could plant a
 * symlink to /etc/passwd or to `/`, a FIFO that blocks its reader for ever, or a device that never
 * ends. So every file is checked with lstat before it is opened, opened without following a link
 * (O_NOFOLLOW) and without blocking (O_NONBLOCK: opening a FIFO would otherwise wait for a writer on
 * one of libuv's four threads), and checked again on the open descriptor: the file read is the regular
 * file that was checked, not whatever was swapped in between.
 *
 * Three rules, by where the path came from:
 *   inside  the watched folder, /origin/, /hls/: a regular file reached from the folder through real
 *           directories only. Any symlink on the way is refused, even one pointing inside the folder:
 *           a link is never sent, and a refused file is refused the same way at every door.
 *   nolink  a Redis queue entry naming a file outside the folder (the original's API, written by a
 *           program with Redis access): a regular file, not itself a link.
 *   named   a file the operator typed on the `push` command line: links are followed, as cp follows
 *           them, since the operator chose the file and the CLI runs with the operator's own rights;
 *           the file at the end must still be a regular file.
 */
import { constants } from 'node:fs';
import type { Stats } from 'node:fs';
import { lstat, open, realpath, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { errnoOf } from '../../../shared/src/protocol/index.js';

export type FileRule = { kind: 'inside'; root: string } | { kind: 'nolink' } | { kind: 'named' };

export type FileRefusalCode =
  | 'E_SYMLINK' // the file, or a directory on its way inside the folder, is a symbolic link
  | 'E_NOT_REGULAR' // a directory, FIFO, socket or device, or the file changed while it was opened
  | 'E_OUTSIDE'; // an `inside` path that does not lie in the folder

export class FileRefused extends Error {
  override name = 'FileRefused';
  constructor(
    readonly code: FileRefusalCode,
    detail: string,
  ) {
    super(detail);
  }
}

export function isFileRefused(err: unknown): err is FileRefused {
  return err instanceof FileRefused;
}

/** Whether `absolute` lies in `root` (lexically, before any link is resolved). */
export function isInside(root: string, absolute: string): boolean {
  return path.resolve(absolute).startsWith(path.resolve(root) + path.sep);
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'directory';
  if (st.isFIFO()) return 'FIFO';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'device';
  return 'special file';
}

/** Check `file` against `rule` without opening it; its lstat (stat for `named`) when it passes. */
export async function inspectFile(file: string, rule: FileRule): Promise<Stats> {
  const absolute = path.resolve(file);
  if (rule.kind === 'inside' && !isInside(rule.root, absolute)) throw new FileRefused('E_OUTSIDE', `${absolute} is not inside ${rule.root}`);
  const st = rule.kind === 'named' ? await stat(absolute) : await lstat(absolute);
  if (st.isSymbolicLink()) throw new FileRefused('E_SYMLINK', `${absolute} is a symbolic link; only regular files are sent or served`);
  if (!st.isFile()) throw new FileRefused('E_NOT_REGULAR', `${absolute} is a ${kindOf(st)}, not a regular file`);
  if (rule.kind === 'inside') {
    // The real path must be the folder's real path plus the same relative path: then no directory
    // on the way is a link, and the file cannot be anywhere but in the folder (the root itself may be
    // a link: the operator chose it in the config).
    const expected = path.join(await realpath(rule.root), path.relative(path.resolve(rule.root), absolute));
    const real = await realpath(absolute);
    if (real !== expected) throw new FileRefused('E_SYMLINK', `${absolute} is reached through a symbolic link (it is ${real})`);
  }
  return st;
}

/**
 * Checks and opens in a row: an encoder that writes a temp file and renames it over the playlist (ffmpeg's
 * `-hls_flags temp_file`) can swap the file between the check and the open every second or two.
 */
const OPEN_ATTEMPTS = 5;

/** Open `file` for reading under `rule`; the caller closes the handle. */
export async function openRegularFile(file: string, rule: FileRule): Promise<{ handle: FileHandle; size: number }> {
  for (let attempt = 1; ; attempt++) {
    const opened = await openChecked(path.resolve(file), rule);
    if (opened !== 'replaced') return opened;
    if (attempt === OPEN_ATTEMPTS) {
      throw new FileRefused('E_NOT_REGULAR', `${path.resolve(file)} was replaced ${OPEN_ATTEMPTS} times while it was opened`);
    }
  }
}

/**
 * One check and open; 'replaced' when another regular file took the name in between (renamed over it), so
 * the caller checks the new one. Anything else in its place is refused.
 */
async function openChecked(absolute: string, rule: FileRule): Promise<{ handle: FileHandle; size: number } | 'replaced'> {
  const checked = await inspectFile(absolute, rule);
  const noFollow = rule.kind === 'named' ? 0 : constants.O_NOFOLLOW;
  let handle: FileHandle;
  try {
    handle = await open(absolute, constants.O_RDONLY | constants.O_NONBLOCK | noFollow);
  } catch (err) {
    // Replaced by a link between the check and the open.
    if (errnoOf(err) === 'ELOOP') throw new FileRefused('E_SYMLINK', `${absolute} is a symbolic link; only regular files are sent or served`);
    throw err;
  }
  let opened: Stats;
  try {
    opened = await handle.stat();
  } catch (err) {
    await handle.close();
    throw err;
  }
  if (opened.isFile() && opened.ino === checked.ino && opened.dev === checked.dev) return { handle, size: opened.size };
  await handle.close();
  if (!opened.isFile()) throw new FileRefused('E_NOT_REGULAR', `${absolute} changed while it was opened; not a regular file now`);
  return 'replaced';
}

/** The whole content of `file` under `rule`. */
export async function readRegularFile(file: string, rule: FileRule): Promise<Buffer> {
  const { handle } = await openRegularFile(file, rule);
  try {
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}
