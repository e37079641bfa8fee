/**
 * Durable whole-file writes: write a temp file beside the target, fsync it, rename it over the target,
 * then fsync the folder so the rename itself survives a power cut. A reader sees the old file or the
 * new one, never a torn one.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/** fsync a file or a folder: a read-only handle is enough (Linux syncs whatever the inode holds). */
export async function fsyncPath(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A folder's entries (a rename, a new or removed file) survive a power cut once it is fsynced. */
export const fsyncDir = fsyncPath;

/** Create `file` (it must not exist), write `data` and fsync it; on failure nothing is left behind. */
export async function writeNewFileDurably(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const handle = await open(file, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(file, { force: true });
    throw err;
  }
  await handle.close();
}

/** `beforeRename`: called once the temp file is durable, before it replaces `file` (a failpoint's place). */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644, beforeRename?: () => void): Promise<void> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true });
  const temp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  await writeNewFileDurably(temp, data, mode);
  beforeRename?.();
  try {
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  await fsyncDir(dir);
}
