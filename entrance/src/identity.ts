/**
 * The entrance's ID is stable across restarts, because the registry lives under it in Redis: from
 * config when set, else generated once and kept in RUN_DIRECTORY/entrance-id (written atomically).
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { isIdOf } from '../../shared/src/protocol/index.js';
import { writeFileAtomic } from '../../shared/src/fs-atomic.js';
import { errnoOf } from '../../shared/src/protocol/index.js';

export async function resolveEntranceId(configured: string | undefined, runDirectory: string): Promise<string> {
  if (configured !== undefined) return configured;
  const file = path.join(runDirectory, 'entrance-id');
  try {
    const stored = (await readFile(file, 'utf8')).trim();
    if (isIdOf(stored, 'ENTRANCE')) return stored;
    throw new Error(`${file} does not hold an entrance ID; fix or delete it`);
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw err;
  }
  const id = `entrance-${randomBytes(16).toString('hex')}`;
  await writeFileAtomic(file, `${id}\n`);
  return id;
}
