/**
 * Watches the encoder's output folder. Every finished media file is queued for the boxes; playlists are
 * not sent (the publisher serves them rewritten) and temporary files are ignored. "Finished" means
 * renamed into place (ffmpeg's -hls_flags temp_file) or unchanged for a short while
 * (awaitWriteFinish), so a half-written segment is never sent.
 *
 * Only regular files reach `onFile`. chokidar follows symlinks by default, which would send a link to a
 * system file to boxes and make a link to `/` crawl (and watch) the whole filesystem. Here it never
 * follows one, goes at most WATCH_DEPTH folders deep, and every entry it reports is checked with lstat
 * (regular-file.ts): a link, FIFO, socket or device gets a warning and is never sent.
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { watch } from 'chokidar';
import type { FSWatcher } from 'chokidar';
import type { Logger } from '../../../shared/src/log.js';
import { messageOf } from '../../../shared/src/protocol/index.js';
import { inspectFile, isFileRefused } from './regular-file.js';

const STABLE_MS = 120;
/** Folders below the watched one that are watched: HLS output is one or two deep (variant/segment). */
const WATCH_DEPTH = 8;

export function isPlaylist(file: string): boolean {
  return file.toLowerCase().endsWith('.m3u8');
}

function isTemporary(file: string): boolean {
  const base = path.basename(file);
  return base.startsWith('.') || /\.(tmp|part|swp)$/i.test(base) || base.endsWith('~');
}

export interface FolderWatch {
  /** Resolves once the files already in the folder have been reported. */
  ready: Promise<void>;
  stop(): Promise<void>;
}

export function watchFolder(opts: { directory: string; onFile(absolutePath: string): void; log: Logger }): FolderWatch {
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
  const take = (reported: string): void => {
    const file = path.join(root, path.relative(real, reported));
    if (isPlaylist(file)) return;
    inspectFile(file, { kind: 'inside', root }).then(
      () => opts.onFile(file),
      (err: unknown) => {
        if (isFileRefused(err)) opts.log.warn({ file, code: err.code, reason: err.message }, 'not a regular file in the watched folder; never sent');
        else opts.log.debug({ file, err: messageOf(err) }, 'gone before it could be checked'); // removed meanwhile: nothing to send
      },
    );
  };
  watcher.on('add', take);
  watcher.on('change', take);
  watcher.on('error', (err: unknown) => opts.log.warn({ err: messageOf(err) }, 'watching the folder failed'));
  const ready = new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  return { ready, stop: () => watcher.close() };
}
