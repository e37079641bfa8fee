/**
 * Where received files go: BASE_DIRECTORY/<publisher-id>/<FILE_PATH>. A file is written to a temp file
 * in BASE_DIRECTORY/.incoming (same filesystem, never served: nginx refuses dot paths), fsynced, renamed
 * into place and its folder fsynced, so nginx serves the old file or the whole new one, never a part.
 * Its deadline goes into {ID}:EXPIRE_FILES before the reply, so nothing accepted is left without one.
 *
 * Several files may be written at once (a publisher pipelines frames): each takes its path's lock when
 * write() is called, so copies of one path are renamed in the order they arrived whichever finishes
 * writing first, and renames into one folder share their folder fsyncs (folder-syncs.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, statfs } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { ProtocolError } from '../../../shared/src/protocol/index.js';
import type { BoxKeys } from '../../../shared/src/redis-keys.js';
import { errnoOf } from '../../../shared/src/protocol/index.js';
import { viewerPath } from '../../../shared/src/viewer-url.js';
import { FolderSyncs } from './folder-syncs.js';
import type { PathLocks } from './path-locks.js';
import type { PublisherUsage } from './publisher-usage.js';

export const INCOMING_DIR = '.incoming';

export interface StoreDeps {
  redis: Redis;
  keys: BoxKeys;
  baseDirectory: string;
  maxFileBytes: number;
  diskReserveBytes: number;
  locks: PathLocks;
  /** Bytes each publisher holds here: checked against a grant's quota, updated with every file. */
  usage: PublisherUsage;
  now?: () => number;
}

export interface Stored {
  size: number;
  sha256: string;
  /** `<publisher-id>/<FILE_PATH>`, the member in EXPIRE_FILES and the URL path on nginx. */
  relativePath: string;
}

/** The absolute path of `untrusted` inside `root`, or E_PATH: defence in depth behind normaliseFilePath. */
export function resolveInside(root: string, untrusted: string): string {
  const target = path.resolve(root, untrusted);
  if (!target.startsWith(root + path.sep)) throw new ProtocolError('E_PATH', `refused path ${untrusted}`);
  return target;
}

export class FileStore {
  private readonly root: string;
  private readonly incoming: string;
  private readonly now: () => number;
  private readonly folderSyncs = new FolderSyncs();
  /** Bytes of files being written now: statfs does not see them (all) yet, so the reserve check adds them. */
  private writingBytes = 0;

  constructor(private readonly deps: StoreDeps) {
    this.root = path.resolve(deps.baseDirectory);
    this.incoming = path.join(this.root, INCOMING_DIR);
    this.now = deps.now ?? Date.now;
  }

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o755 });
    // Leftovers of writes cut short by a crash: never renamed, so never served; remove them.
    await rm(this.incoming, { recursive: true, force: true });
    await mkdir(this.incoming, { recursive: true, mode: 0o700 });
  }

  /**
   * `filePath` must already be normalised (checkFrameHeader). `quotaBytes` (0: none) bounds what the
   * publisher holds here once this file replaces any copy at its path. The path's lock is taken before
   * this returns (nothing here awaits before it), so calls made in arrival order rename in that order.
   */
  async write(publisherId: string, filePath: string, content: Buffer, ttlSeconds: number, quotaBytes = 0): Promise<Stored> {
    if (content.length > this.deps.maxFileBytes) {
      throw new ProtocolError('E_TOO_BIG', `file is ${content.length} bytes; this box takes at most ${this.deps.maxFileBytes}`);
    }
    const relativePath = viewerPath(publisherId, filePath);
    this.checkQuota(publisherId, relativePath, content.length, quotaBytes);
    const target = resolveInside(this.root, relativePath);
    const temp = path.join(this.incoming, `${randomBytes(8).toString('hex')}.tmp`);
    const written = this.writeTemp(temp, content);
    written.catch(() => undefined); // awaited under the lock below; this only marks it handled meanwhile
    try {
      const sha256 = await this.deps.locks.run(relativePath, async () => {
        const hash = await written;
        await this.deps.redis.zadd(this.deps.keys.expireFiles, this.now() / 1000 + ttlSeconds, relativePath);
        await renameIntoFolder(temp, target);
        this.deps.usage.stored(relativePath, content.length);
        return hash;
      });
      await this.folderSyncs.sync(path.dirname(target));
      return { size: content.length, sha256, relativePath };
    } catch (err) {
      await rm(temp, { force: true });
      const code = errnoOf(err);
      if (code === 'ENOTDIR' || code === 'EEXIST' || code === 'EISDIR') {
        throw new ProtocolError('E_PATH', `${filePath} conflicts with a file or folder this publisher already stored`);
      }
      // The disk filled under the write (another program wrote, or a folder or the Redis entry took the last block).
      if (code === 'ENOSPC' || code === 'EDQUOT') throw new ProtocolError('E_DISK_FULL', `the disk filled while storing ${content.length} bytes`);
      throw err;
    }
  }

  /**
   * Check the disk reserve, then write `content` to the new file `temp` durably (fdatasync: the data and
   * the size needed to read it back; the name is made durable by the folder fsync after the rename).
   * Resolves with its SHA-256, hashed on this thread while the write runs on libuv's.
   */
  private async writeTemp(temp: string, content: Buffer): Promise<string> {
    // Counted before the await, so files arriving together each see the others' bytes (a file half
    // written is counted twice, by statfs and here: overlapping writes may be refused early, never
    // pass the reserve).
    this.writingBytes += content.length;
    try {
      const fs = await statfs(this.root);
      if (fs.bavail * fs.bsize - this.writingBytes < this.deps.diskReserveBytes) {
        throw new ProtocolError('E_DISK_FULL', `storing ${content.length} bytes would leave less than the ${this.deps.diskReserveBytes}-byte disk reserve`);
      }
      return await this.writeDurably(temp, content);
    } finally {
      this.writingBytes -= content.length;
    }
  }

  /** Write the new file `temp` and fdatasync it; resolves with the SHA-256 of `content`. */
  private async writeDurably(temp: string, content: Buffer): Promise<string> {
    const handle = await open(temp, 'wx', 0o644);
    try {
      const writing = writeAll(handle, content);
      writing.catch(() => undefined); // awaited just below, after the hash
      const sha256 = createHash('sha256').update(content).digest('hex');
      await writing;
      await handle.datasync();
      return sha256;
    } finally {
      await handle.close();
    }
  }

  /**
   * E_QUOTA when the file would take its publisher past `quotaBytes`. Checked before the write, so files
   * in flight together may pass it by at most what one socket holds unanswered.
   */
  private checkQuota(publisherId: string, relativePath: string, size: number, quotaBytes: number): void {
    if (quotaBytes <= 0) return;
    const held = this.deps.usage.heldBy(publisherId) - this.deps.usage.sizeOf(relativePath);
    if (held + size > quotaBytes) {
      throw new ProtocolError('E_QUOTA', `${publisherId} holds ${held} bytes here; ${size} more would pass its grant's quota of ${quotaBytes}`);
    }
  }
}

/** One write call for the whole buffer (more only if the kernel takes less), not fs's 512 KiB chunks. */
async function writeAll(handle: FileHandle, content: Buffer): Promise<void> {
  for (let offset = 0; offset < content.length; ) {
    const { bytesWritten } = await handle.write(content, offset, content.length - offset, offset);
    offset += bytesWritten;
  }
}

/**
 * Rename `temp` to `target`, making its folder first. The expiry sweeper removes folders an expired file
 * leaves empty while holding that file's lock, not this one's, so the folder made here can vanish before
 * the rename (ENOENT): then it is made again, a few times at most.
 */
async function renameIntoFolder(temp: string, target: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    await mkdir(path.dirname(target), { recursive: true, mode: 0o755 });
    try {
      await rename(temp, target);
      return;
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT' || attempt >= 5) throw err;
    }
  }
}
