/**
 * Finds the boot partition of an SD image or card without mounting it: the first MBR partition that
 * holds a FAT file system. We read the partition table ourselves (512 bytes) instead of asking sfdisk,
 * so the only tool the write needs is mtools, and check the FAT boot sector at the offset found, so a
 * wrong table entry is refused rather than written through.
 */
import { open } from 'node:fs/promises';

/** MBR (and SD card) sectors: the LBA addresses in the table count these. */
export const SECTOR_BYTES = 512;

/** MBR partition types of FAT file systems: FAT12, FAT16 <32M, FAT16, FAT32 CHS, FAT32 LBA, FAT16 LBA. */
const FAT_TYPES: ReadonlySet<number> = new Set([0x01, 0x04, 0x06, 0x0b, 0x0c, 0x0e]);
const GPT_PROTECTIVE = 0xee;

export interface BootPartition {
  /** 1-4, as in /dev/sdX1. */
  number: number;
  type: number;
  /** Where the FAT file system starts in the image or device (for mtools' -i FILE@@OFFSET). */
  offsetBytes: number;
  sizeBytes: number;
}

/** Why a target is not a card we can write to; the CLI reports it as a usage problem (exit 2). */
export class NotACardError extends Error {
  override name = 'NotACardError';
}

export async function findBootPartition(target: string): Promise<BootPartition> {
  const handle = await open(target, 'r');
  try {
    const mbr = await readAt(handle, 0, SECTOR_BYTES, target);
    if (mbr.readUInt16LE(510) !== 0xaa55) throw new NotACardError(`${target} has no MBR partition table (no 55 AA signature in its first sector)`);
    const entries = [0, 1, 2, 3].map((i) => {
      const at = 446 + 16 * i;
      return { number: i + 1, type: mbr[at + 4] ?? 0, startSector: mbr.readUInt32LE(at + 8), sectors: mbr.readUInt32LE(at + 12) };
    });
    if (entries.some((e) => e.type === GPT_PROTECTIVE)) throw new NotACardError(`${target} has a GPT partition table; the Dandelion SD image uses MBR`);
    for (const e of entries) {
      if (!FAT_TYPES.has(e.type) || e.sectors === 0) continue;
      const offsetBytes = e.startSector * SECTOR_BYTES;
      const boot = await readAt(handle, offsetBytes, SECTOR_BYTES, target);
      if (!looksLikeFat(boot)) throw new NotACardError(`${target}: partition ${e.number} (type 0x${hex(e.type)}) holds no FAT file system`);
      return { number: e.number, type: e.type, offsetBytes, sizeBytes: e.sectors * SECTOR_BYTES };
    }
    const found = entries.filter((e) => e.type !== 0).map((e) => `${e.number}: 0x${hex(e.type)}`).join(', ') || 'none';
    throw new NotACardError(`${target} has no FAT partition (types 0x0b, 0x0c, 0x0e…); partitions found: ${found}`);
  } finally {
    await handle.close();
  }
}

/** A FAT boot sector: the 55 AA signature, a power-of-two sector size and cluster size, and FAT(s) present. */
function looksLikeFat(boot: Buffer): boolean {
  const bytesPerSector = boot.readUInt16LE(11);
  const sectorsPerCluster = boot[13] ?? 0;
  const fats = boot[16] ?? 0;
  const pow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;
  return boot.readUInt16LE(510) === 0xaa55 && [512, 1024, 2048, 4096].includes(bytesPerSector) && pow2(sectorsPerCluster) && fats >= 1;
}

async function readAt(handle: Awaited<ReturnType<typeof open>>, position: number, length: number, target: string): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buf, 0, length, position);
  if (bytesRead < length) {
    throw new NotACardError(position === 0 ? `${target} has no MBR partition table (it is only ${bytesRead} bytes)` : `${target} ends at byte ${position + bytesRead}, inside the partition its table names (a truncated image?)`);
  }
  return buf;
}

const hex = (n: number) => n.toString(16).padStart(2, '0');
