/**
 * Which boxes hold which file. In memory for the web server's per-request lookups, and in Redis as
 * `{ID}:FILE:PROCESSED_FILES:<path>` (hash: box ID → JSON {URL, SIZE, SHA256}) until the file's TTL
 * passes, so other programs (the original's "web server asks the publisher") can read it too.
 */
import type { Redis } from 'ioredis';
import { isRecord, parseJsonSafe } from '../../../shared/src/protocol/index.js';
import type { PublisherKeys } from '../../../shared/src/redis-keys.js';

/** A box copy of a file that the publisher has confirmed (size + SHA-256). */
export interface Replica {
  boxId: string;
  /** Where viewers fetch it: viewerUrl(<box's HTTP_URL>, <publisher-id>, <path>). Used as given. */
  url: string;
}

export interface IndexedFile {
  firstSeenMs: number;
  size?: number;
  sha256?: string;
  expiresAtMs: number;
  replicas: Map<string, string>;
}

export class FileIndex {
  private readonly files = new Map<string, IndexedFile>();

  constructor(private readonly redis: Redis, private readonly keys: PublisherKeys, private readonly now: () => number = Date.now) {}

  /** Note a file the moment it is seen (its hold-back clock starts here). */
  seen(path: string, ttlSeconds: number): IndexedFile {
    let f = this.files.get(path);
    if (!f) {
      f = { firstSeenMs: this.now(), expiresAtMs: this.now() + ttlSeconds * 1000, replicas: new Map() };
      this.files.set(path, f);
    }
    return f;
  }

  /**
   * Note the SHA-256 of the content about to be sent, before any box confirms it: what viewers check
   * every box's copy against (/hashes/), and what audits compare with.
   */
  hashed(path: string, ttlSeconds: number, size: number, sha256: string): void {
    const f = this.seen(path, ttlSeconds);
    f.size = size;
    f.sha256 = sha256;
  }

  get(path: string): IndexedFile | undefined {
    const f = this.files.get(path);
    if (f && f.expiresAtMs <= this.now()) {
      this.files.delete(path);
      return undefined;
    }
    return f;
  }

  async confirm(path: string, boxId: string, url: string, size: number, sha256: string, ttlSeconds: number): Promise<void> {
    const f = this.seen(path, ttlSeconds);
    f.size = size;
    f.sha256 = sha256;
    f.expiresAtMs = Math.max(f.expiresAtMs, this.now() + ttlSeconds * 1000);
    f.replicas.set(boxId, url);
    const key = this.keys.processedFile(path);
    await this.redis.multi().hset(key, boxId, JSON.stringify({ URL: url, SIZE: size, SHA256: sha256 })).expire(key, Math.ceil(ttlSeconds)).exec();
  }

  /**
   * The boxes PROCESSED_FILES lists as holding exactly these bytes (size and SHA-256), taken back into
   * memory so viewers are pointed at them: copies confirmed before this process started.
   */
  async recall(path: string, size: number, sha256: string, ttlSeconds: number): Promise<string[]> {
    const held = await this.redis.hgetall(this.keys.processedFile(path));
    const f = this.seen(path, ttlSeconds);
    const boxes: string[] = [];
    for (const [boxId, raw] of Object.entries(held)) {
      const copy = parseJsonSafe(raw);
      if (!isRecord(copy) || copy.SIZE !== size || copy.SHA256 !== sha256 || typeof copy.URL !== 'string') continue;
      f.replicas.set(boxId, copy.URL);
      boxes.push(boxId);
    }
    return boxes;
  }

  /** A box failed: stop pointing viewers at it. */
  async dropBox(boxId: string): Promise<void> {
    const touched: string[] = [];
    for (const [path, f] of this.files) if (f.replicas.delete(boxId)) touched.push(path);
    if (touched.length === 0) return;
    const tx = this.redis.multi();
    for (const path of touched) tx.hdel(this.keys.processedFile(path), boxId);
    await tx.exec();
  }

  replicas(path: string): Replica[] {
    const f = this.get(path);
    return f ? [...f.replicas].map(([boxId, url]) => ({ boxId, url })) : [];
  }

  /** Forget files whose TTL has passed (boxes have deleted them). */
  prune(): number {
    let n = 0;
    for (const [path, f] of this.files) {
      if (f.expiresAtMs <= this.now()) {
        this.files.delete(path);
        n += 1;
      }
    }
    return n;
  }

  get size(): number {
    return this.files.size;
  }
}
