/**
 * The fleet's releases of the box agent, in Redis (releaseKeys): each signed manifest line and its binary,
 * stored only once the manifest verifies against the trusted release keys and the bytes match its SIZE and
 * SHA256. The binary arrives as a stream and is APPENDed to a temporary key chunk by chunk, so an upload of
 * 50 MB never sits in the entrance's memory; the temporary key is renamed into place only once verified,
 * and deleted on any refusal (or expires, if the entrance dies mid-upload): nothing refused is ever stored.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { keyLayoutOfClient } from '../../../shared/src/redis.js';
import { releaseKeys } from '../../../shared/src/redis-keys.js';
import type { ReleaseKeys as ReleaseKeyNames } from '../../../shared/src/redis-keys.js';
import { RELEASE_ARCHES, compareVersions, isVersion, verifyRelease } from '../../../shared/src/release/manifest.js';
import type { ReleaseManifest } from '../../../shared/src/release/manifest.js';
import { isOneOf } from '../../../shared/src/protocol/fields.js';
import type { ReleaseKeys } from '../../../shared/src/release/trusted-keys.js';

/** Seconds an upload in progress may go without a chunk before its temporary key expires. */
const UPLOAD_IDLE_SECONDS = 300;
/** Bytes per GETRANGE when a binary is served: large enough for few round trips, small for memory. */
export const RELEASE_CHUNK_BYTES = 256 * 1024;

/** A refused upload: the reason an operator reads (4xx, exit 2). */
export class ReleaseRefused extends Error {
  override name = 'ReleaseRefused';
}

export interface StoredRelease {
  VERSION: string;
  ARCH: string;
  SIZE: number;
  SHA256: string;
  MIN_FROM_VERSION: string;
  ALLOW_DOWNGRADE: boolean;
  KEY_ID: string;
  CREATED: number;
  RELEASE: string;
}

export class ReleaseStore {
  private readonly keys: ReleaseKeyNames;

  constructor(private readonly redis: Redis, private readonly trusted: () => ReleaseKeys) {
    this.keys = releaseKeys(keyLayoutOfClient(redis));
  }

  /** The manifest a release line carries, when a trusted key signed it; else ReleaseRefused with why. */
  check(releaseLine: unknown): { manifest: ReleaseManifest; text: string } {
    const checked = verifyRelease(releaseLine, this.trusted());
    if (!checked.ok) throw new ReleaseRefused(checked.reason);
    return checked;
  }

  /**
   * Store the release `releaseLine` describes with the bytes of `body`. The manifest is checked before a
   * byte is read; the body is refused as soon as it runs past SIZE, and at its end unless SIZE and SHA256
   * match. Replaces a release of the same version and arch.
   */
  async upload(releaseLine: unknown, body: AsyncIterable<Buffer | string> | Iterable<Buffer>): Promise<StoredRelease> {
    const { manifest, text } = this.check(releaseLine);
    const temp = this.keys.upload(randomBytes(12).toString('hex'));
    const hash = createHash('sha256');
    let size = 0;
    try {
      for await (const piece of body) {
        const chunk = typeof piece === 'string' ? Buffer.from(piece) : piece;
        size += chunk.length;
        if (size > manifest.SIZE) throw new ReleaseRefused(`the binary is longer than the manifest's SIZE ${manifest.SIZE}`);
        hash.update(chunk);
        // Awaited before the next chunk is read: the request stream waits for Redis (backpressure).
        await this.redis.multi().append(temp, chunk).expire(temp, UPLOAD_IDLE_SECONDS).exec();
      }
      if (size !== manifest.SIZE) throw new ReleaseRefused(`the binary is ${size} bytes, the manifest's SIZE is ${manifest.SIZE} (truncated?)`);
      const sha = hash.digest('hex');
      if (sha !== manifest.SHA256) throw new ReleaseRefused(`the binary's SHA-256 is ${sha}, the manifest says ${manifest.SHA256}`);
      await this.redis.multi()
        .persist(temp)
        .rename(temp, this.keys.binary(manifest.VERSION, manifest.ARCH))
        .hset(this.keys.releases, `${manifest.VERSION}:${manifest.ARCH}`, text)
        .exec();
    } catch (err) {
      await this.redis.del(temp);
      throw err;
    }
    return describe(manifest, text);
  }

  async list(): Promise<StoredRelease[]> {
    const all = await this.redis.hgetall(this.keys.releases);
    const out: StoredRelease[] = [];
    for (const text of Object.values(all)) {
      // Stored only after it verified; one signed by a key no longer trusted is listed no more.
      const checked = verifyRelease(text, this.trusted());
      if (checked.ok) out.push(describe(checked.manifest, checked.text));
    }
    return out.sort((a, b) => compareVersions(a.VERSION, b.VERSION) || a.ARCH.localeCompare(b.ARCH));
  }

  /** The stored release of `version` on `arch`, when there is one that still verifies. */
  async get(version: string, arch: string): Promise<StoredRelease | undefined> {
    if (!isVersion(version) || !isOneOf(RELEASE_ARCHES, arch)) return undefined;
    const text = await this.redis.hget(this.keys.releases, `${version}:${arch}`);
    if (text === null) return undefined;
    const checked = verifyRelease(text, this.trusted());
    return checked.ok ? describe(checked.manifest, checked.text) : undefined;
  }

  /** The architectures `version` has a release for. */
  async archesOf(version: string): Promise<string[]> {
    return (await this.list()).filter((r) => r.VERSION === version).map((r) => r.ARCH);
  }

  async remove(version: string, arch: string): Promise<boolean> {
    const [[, removed] = []] = (await this.redis.multi().hdel(this.keys.releases, `${version}:${arch}`).del(this.keys.binary(version, arch)).exec()) ?? [];
    return removed === 1;
  }

  /** Bytes `start`…`end` (inclusive) of a stored binary, chunk by chunk; each chunk is read when the consumer asks for it. */
  async *read(version: string, arch: string, start: number, end: number): AsyncGenerator<Buffer> {
    const key = this.keys.binary(version, arch);
    for (let at = start; at <= end; at += RELEASE_CHUNK_BYTES) {
      const chunk = await this.redis.getrangeBuffer(key, at, Math.min(end, at + RELEASE_CHUNK_BYTES - 1));
      if (chunk.length === 0) throw new Error(`release ${version}/${arch} vanished while being served`);
      yield chunk;
    }
  }
}

function describe(m: ReleaseManifest, text: string): StoredRelease {
  return { VERSION: m.VERSION, ARCH: m.ARCH, SIZE: m.SIZE, SHA256: m.SHA256, MIN_FROM_VERSION: m.MIN_FROM_VERSION, ALLOW_DOWNGRADE: m.ALLOW_DOWNGRADE, KEY_ID: m.KEY_ID, CREATED: m.CREATED, RELEASE: text };
}
