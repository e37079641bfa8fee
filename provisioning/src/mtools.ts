/**
 * mtools on a FAT file system inside an image or card, addressed as `-i TARGET@@OFFSET`: no mount, no
 * root for image files. The environment is built here rather than inherited, so a user's ~/.mtoolsrc
 * or MTOOLS_* variables cannot change what is written, and no DANDELION_* secret reaches the child.
 */
import { execFile } from 'node:child_process';
import { NotACardError } from './boot-partition.js';
import type { Card } from './target.js';

/** The drive letter mtools gives the -i image. */
export const DRIVE = '::';

const MTOOLS_ENV: NodeJS.ProcessEnv = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: '/nonexistent', // no ~/.mtoolsrc
  MTOOLSRC: '/dev/null',
  // The FAT inside an image need not match the geometry mtools would expect of a floppy; it is checked by us.
  MTOOLS_SKIP_CHECK: '1',
  LC_ALL: 'C',
};
const TIMEOUT_MS = 60_000;

/** Thrown when an mtools command exits non-zero: the card's FAT is damaged or full (exit 1). */
export class MtoolsError extends Error {
  override name = 'MtoolsError';
}

export function mtools(card: Card, command: string, args: string[]): Promise<Buffer> {
  const image = `${card.path}@@${card.boot.offsetBytes}`;
  return new Promise((resolve, reject) => {
    execFile(command, ['-i', image, ...args], { env: MTOOLS_ENV, encoding: 'buffer', timeout: TIMEOUT_MS, maxBuffer: 16 * 1048576 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return reject(new NotACardError(`${command} not found: install mtools (apt-get install mtools)`));
      }
      const why = stderr.toString().trim() || err.message;
      reject(new MtoolsError(`${command} ${args.join(' ')} on ${card.path} failed: ${why}`));
    });
  });
}

/** The names in the FAT's root folder (long names where present). */
export async function listRoot(card: Card): Promise<string[]> {
  // -b: bare names, one full path per line ("::/config.txt").
  const out = (await mtools(card, 'mdir', ['-b', DRIVE])).toString('utf8');
  return out.split('\n').map((l) => l.trim().replace(/^::\//, '')).filter(Boolean);
}

/** A file of the FAT's root folder, or undefined when it is not there. */
export async function readRootFile(card: Card, name: string): Promise<Buffer | undefined> {
  if (!(await listRoot(card)).some((n) => n.toLowerCase() === name.toLowerCase())) return undefined;
  return mtools(card, 'mtype', [`${DRIVE}${name}`]);
}
