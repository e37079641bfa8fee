/**
 * Replacing one file on the card's FAT so that a reader finds the old file or the new one, never a
 * torn one. FAT has no atomic rename, so this is the closest mtools gets:
 *
 *   1. mcopy the new bytes to TEMP_NAME (`-D o` overwrites a TEMP_NAME left by an interrupted run);
 *   2. `mren -D o TEMP_NAME NAME`: mtools frees the old NAME's directory entry and clusters, then
 *      renames TEMP_NAME's entry, both in the root folder, written back when the command exits.
 *      Without `-D o`, mren asks what to do about the clash and, with no terminal, gives up (exit 1).
 *   3. fsync TARGET, so a card device's page cache reaches the card before we say "written";
 *   4. mtype NAME and compare with what we meant to write.
 *
 * Cut off between 1 and 2 (card pulled out, power lost), the card keeps the old NAME and a spare
 * TEMP_NAME; inside 2, at worst TEMP_NAME without NAME, which the next provision run cleans up.
 */
import { open, readFile } from 'node:fs/promises';
import { DRIVE, MtoolsError, mtools } from './mtools.js';
import type { Card } from './target.js';

export const TEMP_NAME = 'dandelion.tmp';

export async function replaceOnCard(card: Card, localFile: string, name: string): Promise<void> {
  const bytes = await readFile(localFile);
  await mtools(card, 'mcopy', ['-D', 'o', localFile, `${DRIVE}${TEMP_NAME}`]);
  await mtools(card, 'mren', ['-D', 'o', `${DRIVE}${TEMP_NAME}`, `${DRIVE}${name}`]);
  await fsyncTarget(card.path);
  const back = await mtools(card, 'mtype', [`${DRIVE}${name}`]);
  if (!back.equals(bytes)) throw new MtoolsError(`${name} on ${card.path} reads back differently from what was written; the card may be failing`);
}

async function fsyncTarget(file: string): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
