/**
 * Which files appeared in the watched folder by a rename from a temporary name (ffmpeg's
 * `-hls_flags temp_file`, a script's write-then-`mv`): such a file is whole the moment its name appears,
 * so it can go to the boxes at once instead of after awaitWriteFinish's wait for it to stop changing.
 *
 * fs.watch (chokidar's raw events) says only 'rename' for a name that came or went, whether created or
 * moved. But inotify reports a rename inside one folder as the old name going and the new name coming,
 * back to back in that folder's stream; a file created in place comes alone, and its writes add
 * 'change' events. So: a finished name whose 'rename' directly follows a temporary name's 'rename', when
 * that temporary name no longer exists, was renamed into place. Anything else is left to awaitWriteFinish.
 * Should a file written in place ever be taken for one renamed (a temporary file deleted just before
 * it was created), its later awaitWriteFinish report differs in size or time, and is sent again.
 */
import path from 'node:path';

export class RenameSpotter {
  /** Watched folder → the temporary name its last raw event was a 'rename' of, if the last one was that. */
  private readonly lastTemporary = new Map<string, string>();

  constructor(private readonly isTemporary: (name: string) => boolean) {}

  /**
   * Feed one raw event of a folder's watch (`name` relative to `watchedPath`). Returns the renamed file's
   * path, and the temporary path it came from (the caller checks that one is gone), or undefined.
   */
  raw(event: string, name: string, watchedPath: string): { file: string; from: string } | undefined {
    const temporary = this.lastTemporary.get(watchedPath);
    this.lastTemporary.delete(watchedPath);
    if (event !== 'rename' || name === '') return undefined;
    if (this.isTemporary(name)) {
      this.lastTemporary.set(watchedPath, name);
      return undefined;
    }
    if (temporary === undefined) return undefined;
    return { file: path.join(watchedPath, name), from: path.join(watchedPath, temporary) };
  }
}

/**
 * Files sent the moment they were renamed into place, by identity (inode, size, mtime), so the
 * awaitWriteFinish report of the same file that follows is not sent again. Bounded: beyond `max` the
 * oldest is forgotten (its late report would only send the file once more).
 */
export class SentByRename {
  private readonly sent = new Map<string, string>();

  constructor(private readonly max = 1024) {}

  remember(file: string, st: { ino: number; size: number; mtimeMs: number }): void {
    this.sent.delete(file);
    this.sent.set(file, identity(st));
    if (this.sent.size > this.max) this.sent.delete(this.sent.keys().next().value ?? '');
  }

  /** True (once) when this report is of the very file already sent. */
  isRepeat(file: string, st: { ino: number; size: number; mtimeMs: number }): boolean {
    const known = this.sent.get(file);
    if (known === undefined) return false;
    this.sent.delete(file);
    return known === identity(st);
  }
}

function identity(st: { ino: number; size: number; mtimeMs: number }): string {
  return `${st.ino}:${st.size}:${st.mtimeMs}`;
}
