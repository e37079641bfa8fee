/**
 * A role's ID that must survive restarts (its Redis namespace hangs on it): from config when set, else
 * generated once as `<prefix><32 hex>` and kept in a file written atomically.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from './fs-atomic.js';
import { ID_PREFIX, errnoOf, isIdOf } from './protocol/index.js';
import type { PeerType } from './protocol/index.js';

export async function resolveStoredId(type: PeerType, configured: string | undefined, file: string): Promise<string> {
  if (configured !== undefined) return configured;
  try {
    const stored = (await readFile(file, 'utf8')).trim();
    if (isIdOf(stored, type)) return stored;
    throw new Error(`${file} does not hold a ${type.toLowerCase()} ID; fix or delete it`);
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw err;
  }
  const id = `${ID_PREFIX[type]}${randomBytes(16).toString('hex')}`;
  await writeFileAtomic(file, `${id}\n`);
  return id;
}
