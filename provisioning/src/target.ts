/**
 * TARGET of `provision sdcard|show`: a raw image file (.img) or a whole card device (/dev/sdX,
 * /dev/mmcblkN). Everything that makes it unusable is found here, before anything is written, and
 * reported as a NotACardError naming the target.
 */
import { constants } from 'node:fs';
import { access, open, readFile, stat } from 'node:fs/promises';
import { NotACardError, findBootPartition } from './boot-partition.js';
import type { BootPartition } from './boot-partition.js';

export interface Card {
  path: string;
  boot: BootPartition;
}

/** Compressed images people download and forget to unpack, by extension and by magic bytes. */
const COMPRESSED: ReadonlyArray<{ ext: string; magic: Buffer; unpack: string }> = [
  { ext: '.xz', magic: Buffer.from('fd377a585a00', 'hex'), unpack: 'xz -dk' },
  { ext: '.gz', magic: Buffer.from('1f8b', 'hex'), unpack: 'gunzip -k' },
  { ext: '.zst', magic: Buffer.from('28b52ffd', 'hex'), unpack: 'zstd -d' },
  { ext: '.zip', magic: Buffer.from('504b0304', 'hex'), unpack: 'unzip' },
];

export async function openCard(target: string, { write }: { write: boolean }): Promise<Card> {
  // mtools reads "FILE@@OFFSET" as one argument; a path holding "@@" itself would be misread.
  if (target.includes('@@')) throw new NotACardError(`${target}: a target path must not contain "@@"`);
  let info;
  try {
    info = await stat(target);
  } catch {
    throw new NotACardError(`${target} does not exist`);
  }
  if (!info.isFile() && !info.isBlockDevice()) throw new NotACardError(`${target} is neither an image file nor a block device`);
  if (info.isFile()) await refuseCompressed(target);
  try {
    await access(target, write ? constants.R_OK | constants.W_OK : constants.R_OK);
  } catch {
    throw new NotACardError(`${target} is not ${write ? 'writable' : 'readable'} by this user${info.isBlockDevice() ? ' (card devices usually need sudo)' : ''}`);
  }
  if (write && info.isBlockDevice()) await refuseMounted(target);
  return { path: target, boot: await findBootPartition(target) };
}

async function refuseCompressed(target: string): Promise<void> {
  const head = Buffer.alloc(8);
  const handle = await open(target, 'r');
  try {
    await handle.read(head, 0, head.length, 0);
  } finally {
    await handle.close();
  }
  const hit = COMPRESSED.find((c) => target.toLowerCase().endsWith(c.ext) || head.subarray(0, c.magic.length).equals(c.magic));
  if (hit) throw new NotACardError(`${target} is a compressed image (${hit.ext}); decompress it first (${hit.unpack} ${target}) and provision the .img`);
}

/**
 * Writing a FAT that the desktop has mounted corrupts it (the kernel keeps its own copy of the FAT and
 * directory), so a card with any mounted partition is refused: unmount it first.
 */
async function refuseMounted(device: string): Promise<void> {
  let mounts: string;
  try {
    mounts = await readFile('/proc/self/mounts', 'utf8');
  } catch {
    return; // intentional: without /proc we cannot tell, and the write goes ahead as asked
  }
  const mounted = mounts.split('\n').map((line) => line.split(' ')[0] ?? '').filter((dev) => dev === device || new RegExp(`^${escapeRe(device)}p?\\d+$`).test(dev));
  if (mounted.length > 0) throw new NotACardError(`${device} is mounted (${[...new Set(mounted)].join(', ')}); unmount it first (sudo umount ${mounted[0]})`);
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
