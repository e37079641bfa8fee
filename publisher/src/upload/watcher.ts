/**
 * Watches the encoder's output folder. Every finished media file is queued for the boxes; playlists are
 * not sent (the publisher serves them rewritten) and temporary files are ignored. "Finished" means
 * renamed into place (ffmpeg's -hls_flags temp_file) or unchanged for a short while
 * (awaitWriteFinish), so a half-written segment is never sent.
 */
import path from 'node:path';
import { watch } from 'chokidar';
import type { FSWatcher } from 'chokidar';
import type { Logger } from '../../../shared/src/log.js';

const STABLE_MS = 120;

export function isPlaylist(file: string): boolean {
  return file.toLowerCase().endsWith('.m3u8');
}

function isTemporary(file: string): boolean {
  const base = path.basename(file);
  return base.startsWith('.') || /\.(tmp|part|swp)$/i.test(base) || base.endsWith('~');
}

export function watchFolder(opts: { directory: string; onFile(absolutePath: string): void; log: Logger }): { ready: Promise<void>; stop(): Promise<void> } {
  const watcher: FSWatcher = watch(opts.directory, {
    ignoreInitial: false,
    awaitWriteFinish: { stabilityThreshold: STABLE_MS, pollInterval: 20 },
    ignored: (file: string) => isTemporary(file),
  });
  const take = (file: string): void => {
    if (!isPlaylist(file)) opts.onFile(file);
  };
  watcher.on('add', take);
  watcher.on('change', take);
  watcher.on('error', (err) => opts.log.warn({ err: (err as Error).message }, 'watching the folder failed'));
  const ready = new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  return { ready, stop: () => watcher.close() };
}
