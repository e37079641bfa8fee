/**
 * Watches the encoder's output folder. Every finished media file is queued for the boxes; playlists are
 * not sent (the publisher serves them rewritten) and temporary files are ignored. "Finished" means
 * renamed into place from a temporary name (ffmpeg's -hls_flags temp_file): reported at once
 * (rename-spotter.ts); or unchanged for a short while (awaitWriteFinish), so a half-written segment
 * is never sent.
 *
 * Only regular files reach `onFile`. chokidar follows symlinks by default, which would send a link to a
 * system file to boxes and make a link to `/` crawl (and watch) the whole filesystem. Here it never
 * follows one, goes at most WATCH_DEPTH folders deep, and every entry it reports is checked with lstat
 * (regular-file.ts): a link, FIFO, socket or device gets a warning and is never sent.
 */
import { realpathSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { watch } from 'chokidar';
import type { FSWatcher } from 'chokidar';
import type { Logger } from '../../../shared/src/log.js';
import { errnoOf, isRecord, messageOf } from '../../../shared/src/protocol/index.js';
import { inspectFile, isFileRefused } from './regular-file.js';
import { RenameSpotter, SentByRename } from './rename-spotter.js';

const STABLE_MS = 120;
/** Folders below the watched one that are watched: HLS output is one or two deep (variant/segment). */
const WATCH_DEPTH = 8;

export function isPlaylist(file: string): boolean {
  return file.toLowerCase().endsWith('.m3u8');
}

/** How a file was found finished: renamed into place from a temporary name, or unchanged for STABLE_MS. */
export type FinishedBy = 'renamed' | 'settled';

function isTemporary(file: string): boolean {
  const base = path.basename(file);
  return base.startsWith('.') || /\.(tmp|part|swp)$/i.test(base) || base.endsWith('~');
}

export interface FolderWatch {
  /** Resolves once the files already in the folder have been reported. */
  ready: Promise<void>;
  stop(): Promise<void>;
}

export function watchFolder(opts: { directory: string; onFile(absolutePath: string, finishedBy: FinishedBy): void; log: Logger }): FolderWatch {
  const root = path.resolve(opts.directory);
  // chokidar is given the folder's real path (without following links it would take a linked folder
  // for a link and not look inside); what it reports is turned back into paths under `root`.
  const real = realpathSync(root);
  const watcher: FSWatcher = watch(real, {
    followSymlinks: false,
    depth: WATCH_DEPTH,
    ignoreInitial: false,
    awaitWriteFinish: { stabilityThreshold: STABLE_MS, pollInterval: 20 },
    ignored: (file: string) => isTemporary(file),
  });
  const spotter = new RenameSpotter(isTemporary);
  const sentByRename = new SentByRename();
  const check = (file: string, then: (st: Stats) => void): void => {
    inspectFile(file, { kind: 'inside', root }).then(then, (err: unknown) => {
      if (isFileRefused(err)) opts.log.warn({ file, code: err.code, reason: err.message }, 'not a regular file in the watched folder; never sent');
      else opts.log.debug({ file, err: messageOf(err) }, 'gone before it could be checked'); // removed meanwhile: nothing to send
    });
  };
  const underRoot = (reported: string): string => path.join(root, path.relative(real, reported));
  const settled = (reported: string): void => {
    const file = underRoot(reported);
    if (isPlaylist(file)) return;
    check(file, (st) => {
      if (!sentByRename.isRepeat(file, st)) opts.onFile(file, 'settled');
    });
  };
  watcher.on('raw', (event: string, name: unknown, details: unknown) => {
    const watchedPath = isRecord(details) && typeof details.watchedPath === 'string' ? details.watchedPath : undefined;
    if (typeof name !== 'string' || watchedPath === undefined) return;
    const renamed = spotter.raw(event, name, watchedPath);
    if (renamed === undefined || isPlaylist(renamed.file) || !isInside(real, renamed.file)) return;
    void temporaryIsGone(renamed.from).then((gone) => {
      if (!gone) return;
      const file = underRoot(renamed.file);
      check(file, (st) => {
        sentByRename.remember(file, st);
        opts.onFile(file, 'renamed');
      });
    });
  });
  watcher.on('add', settled);
  watcher.on('change', settled);
  watcher.on('error', (err: unknown) => opts.log.warn({ err: messageOf(err) }, 'watching the folder failed'));
  const ready = new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  return { ready, stop: () => watcher.close() };
}

/** True when nothing is at `file` any more: the temporary name was renamed away, not left beside. */
async function temporaryIsGone(file: string): Promise<boolean> {
  try {
    await lstat(file);
    return false;
  } catch (err) {
    return errnoOf(err) === 'ENOENT';
  }
}

/** Whether `file` lies under `dir`: chokidar watches nothing else, but the path is built from an event's name, so it is checked. */
function isInside(dir: string, file: string): boolean {
  return file.startsWith(dir + path.sep);
}
