/**
 * Bytes each publisher holds on this box, for the quota its grant sets. Kept in memory, from the disk at
 * start and then from every file stored, replaced or deleted: the agent is the only writer under
 * BASE_DIRECTORY, and a walk of the disk per file would cost a Pi far more than this map.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { errnoOf, isIdOf } from '../../../shared/src/protocol/index.js';

export class PublisherUsage {
  /** Publisher ID → (its path under BASE_DIRECTORY as EXPIRE_FILES names it → bytes). */
  private readonly files = new Map<string, Map<string, number>>();
  private readonly totals = new Map<string, number>();

  /** Count what the publishers' folders under `root` hold now. */
  async load(root: string): Promise<void> {
    let entries;
    try {
      entries = await readdir(root, { withFileTypes: true });
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return;
      throw err;
    }
    for (const e of entries) if (e.isDirectory() && isIdOf(e.name, 'PUBLISHER')) await this.walk(root, path.join(root, e.name));
  }

  /** Bytes `publisherId` holds. */
  heldBy(publisherId: string): number {
    return this.totals.get(publisherId) ?? 0;
  }

  /** Bytes of the file at `relativePath` now (0 when there is none), which a new copy replaces. */
  sizeOf(relativePath: string): number {
    return this.files.get(publisherOf(relativePath))?.get(relativePath) ?? 0;
  }

  /** The paths `publisherId` holds files at. */
  pathsOf(publisherId: string): string[] {
    return [...(this.files.get(publisherId)?.keys() ?? [])];
  }

  stored(relativePath: string, size: number): void {
    const publisher = publisherOf(relativePath);
    const files = this.files.get(publisher) ?? new Map<string, number>();
    this.totals.set(publisher, this.heldBy(publisher) - (files.get(relativePath) ?? 0) + size);
    files.set(relativePath, size);
    this.files.set(publisher, files);
  }

  removed(relativePath: string): void {
    const publisher = publisherOf(relativePath);
    const files = this.files.get(publisher);
    const size = files?.get(relativePath);
    if (files === undefined || size === undefined) return;
    files.delete(relativePath);
    if (files.size === 0) {
      this.files.delete(publisher);
      this.totals.delete(publisher);
    } else {
      this.totals.set(publisher, this.heldBy(publisher) - size);
    }
  }

  private async walk(root: string, dir: string): Promise<void> {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await this.walk(root, full);
      else if (entry.isFile()) this.stored(path.relative(root, full).split(path.sep).join('/'), (await stat(full)).size);
    }
  }
}

/** A stored file's publisher: the first segment of its path (viewerPath puts every file there). */
function publisherOf(relativePath: string): string {
  return relativePath.slice(0, relativePath.indexOf('/'));
}
