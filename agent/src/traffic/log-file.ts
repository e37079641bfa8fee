/**
 * The access-log file the tail holds open: opened by path and checked by inode (a path may be renamed
 * under us by rotation), with the checks that say whether it was truncated in place or rotated away.
 */
import { open, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { errnoOf } from '../../../shared/src/protocol/errors.js';
import type { Logger } from '../../../shared/src/log.js';

export const NEWLINE = 0x0a;

/** Where reading stands; `inode` is a decimal string because inode numbers can exceed 2^53. */
export interface Position {
  path: string;
  inode: string;
  offset: number;
}
export interface OpenLog extends Position {
  handle: FileHandle;
}

/** Opens `file` for reading, or undefined when it is missing (or is not the file with `inode`). */
export async function openLog(file: string, inode?: string): Promise<OpenLog | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw err;
  }
  // The inode of the open handle, not of the path: the path may be renamed between open and stat.
  const actual = String((await handle.stat({ bigint: true })).ino);
  if (inode !== undefined && actual !== inode) {
    await handle.close();
    return undefined;
  }
  return { path: file, inode: actual, offset: 0, handle };
}

export async function statOrUndefined(file: string): Promise<{ ino: bigint; size: bigint } | undefined> {
  try {
    return await stat(file, { bigint: true });
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** Copytruncate or a manual `> access.log`: what we read is gone, so start again at 0. */
export async function restartIfTruncated(file: OpenLog, log: Logger): Promise<void> {
  if (file.offset === 0) return;
  const { size } = await file.handle.stat();
  // A file truncated and then refilled past our offset is caught by the byte before it, which is
  // always the "\n" of the last line consumed.
  const before = size >= file.offset ? await file.handle.read(Buffer.alloc(1), 0, 1, file.offset - 1) : undefined;
  if (before?.buffer[0] === NEWLINE) return;
  log.warn({ path: file.path, offset: file.offset, size }, 'access log truncated in place; reading it again from the start');
  file.offset = 0;
}

/** Closes a rotated file read to its end; a partial last line there will never be finished. */
export async function leaveRotated(file: OpenLog, log: Logger): Promise<void> {
  const { size } = await file.handle.stat();
  if (size > file.offset) log.warn({ path: file.path, bytes: size - file.offset }, 'rotated access log ends in a partial line; dropped');
  await file.handle.close();
}
