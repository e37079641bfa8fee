/**
 * Where received files go: BASE_DIRECTORY/<publisher-id>/<FILE_PATH>. A file is written to a temp file
 * in BASE_DIRECTORY/.incoming (same filesystem, never served: nginx refuses dot paths), fsynced, renamed
 * into place and its folder fsynced, so nginx serves the old file or the whole new one, never a part.
 * Its deadline goes into {ID}:EXPIRE_FILES before the reply, so nothing accepted is left without one.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, rm, statfs } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { fsyncDir, writeNewFileDurably } from '../../../shared/src/fs-atomic.js';
import { ProtocolError } from '../../../shared/src/protocol/index.js';
import type { BoxKeys } from '../../../shared/src/redis-keys.js';
import { errnoOf } from '../../../shared/src/protocol/index.js';
import { viewerPath } from '../../../shared/src/viewer-url.js';
import { PathLocks } from './path-locks.js';
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
   * publisher holds here once this file replaces any copy at its path.
   */
  async write(publisherId: string, filePath: string, content: Buffer, ttlSeconds: number, quotaBytes = 0): Promise<Stored> {
    if (content.length > this.deps.maxFileBytes) {
      throw new ProtocolError('E_TOO_BIG', `file is ${content.length} bytes; this box takes at most ${this.deps.maxFileBytes}`);
    }
    const relativePath = viewerPath(publisherId, filePath);
    this.checkQuota(publisherId, relativePath, content.length, quotaBytes);
    const target = resolveInside(this.root, relativePath);
    const fs = await statfs(this.root);
    const free = fs.bavail * fs.bsize;
    if (free - content.length < this.deps.diskReserveBytes) {
      throw new ProtocolError('E_DISK_FULL', `storing ${content.length} bytes would leave less than the ${this.deps.diskReserveBytes}-byte disk reserve`);
    }
    const sha256 = createHash('sha256').update(content).digest('hex');
    const temp = path.join(this.incoming, `${randomBytes(8).toString('hex')}.tmp`);
    await writeNewFileDurably(temp, content);
    try {
      await this.deps.locks.run(relativePath, async () => {
        await this.deps.redis.zadd(this.deps.keys.expireFiles, this.now() / 1000 + ttlSeconds, relativePath);
        await renameIntoFolder(temp, target);
        this.deps.usage.stored(relativePath, content.length);
      });
      await fsyncDir(path.dirname(target));
    } catch (err) {
      await rm(temp, { force: true });
      const code = errnoOf(err);
      if (code === 'ENOTDIR' || code === 'EEXIST' || code === 'EISDIR') {
        throw new ProtocolError('E_PATH', `${filePath} conflicts with a file or folder this publisher already stored`);
      }
      throw err;
    }
    return { size: content.length, sha256, relativePath };
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
