/**
 * The household's small JSON files in RUN_DIRECTORY (the month's count, the settings set on the status
 * page): written whole and durably (temp + fsync + rename), read through a decoder. A file that does not
 * decode is moved aside, kept for whoever wants to look, and reported; only then does the caller start
 * from its fallback, so nothing stored is silently overwritten.
 */
import { readFile, rename } from 'node:fs/promises';
import { writeFileAtomic } from '../../../shared/src/fs-atomic.js';
import type { Logger } from '../../../shared/src/log.js';
import { messageOf } from '../../../shared/src/protocol/errors.js';
import { parseJsonSafe } from '../../../shared/src/protocol/json.js';

function isMissing(err: unknown): boolean {
  return err instanceof Error && 'code' in err && err.code === 'ENOENT';
}

/** `decode` of the file's JSON; `fallback` when there is no file, or once a corrupt one is moved aside. */
export async function readStateFile<T>(file: string, decode: (raw: unknown) => T, fallback: T, log: Logger): Promise<T> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (isMissing(err)) return fallback;
    throw err;
  }
  try {
    return decode(parseJsonSafe(text));
  } catch (err) {
    const aside = `${file}.corrupt-${Date.now()}`;
    await rename(file, aside);
    log.error({ file, movedTo: aside, err: messageOf(err) }, 'household file unreadable: moved aside, starting from its default');
    return fallback;
  }
}

export function writeStateFile(file: string, value: unknown): Promise<void> {
  return writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}
