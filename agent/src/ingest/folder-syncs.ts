/**
 * Folder fsyncs shared by the files renamed into one folder close together (a group commit). A rename
 * is durable once an fsync of its folder has *started* after it, so a caller waits for the fsync
 * running now only if none is running, else for the next one, which starts when the running one ends
 * and serves every caller that arrived meanwhile: N files landing in one folder while an fsync runs
 * cost two fsyncs, not N, and each ACK still means the file's name is on the disk.
 */
import { fsyncDir } from '../../../shared/src/fs-atomic.js';

interface FolderState {
  /** Rejections are seen by the callers that wait for it. */
  running: Promise<void>;
  /** The fsync that starts after `running`, shared by every caller that came while it ran. */
  next?: Promise<void>;
}

const ignore = (): void => undefined;

export class FolderSyncs {
  private readonly folders = new Map<string, FolderState>();

  constructor(private readonly fsync: (dir: string) => Promise<void> = fsyncDir) {}

  /** Resolves once an fsync of `dir` that started after this call has finished. */
  sync(dir: string): Promise<void> {
    const state = this.folders.get(dir);
    if (state === undefined) return this.start(dir);
    state.next ??= state.running.then(ignore, ignore).then(() => this.start(dir));
    return state.next;
  }

  private start(dir: string): Promise<void> {
    const running = this.fsync(dir);
    const state: FolderState = { running };
    this.folders.set(dir, state);
    void running.then(ignore, ignore).then(() => {
      if (this.folders.get(dir) === state && state.next === undefined) this.folders.delete(dir);
    });
    return running;
  }
}
