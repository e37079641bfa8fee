/**
 * `dandelion publisher push FILE... [--ttl S]`: send files to REPLICAS boxes now, with a progress line
 * per file, and exit 0 only when every file was confirmed (size and SHA-256) by enough boxes.
 * The operator named these files, so a symlink among them is followed (as cp would); a FIFO or a
 * device is still refused (one would block for ever, the other never end) and counts as not sent.
 */
import type { Logger } from '../../shared/src/log.js';
import type { BoxConnection } from './boxes/box-connection.js';
import type { PublisherParts } from './app.js';
import { isFileRefused, readRegularFile } from './upload/regular-file.js';
import { taskFor } from './upload/send-queue.js';

const SEARCH_WAIT_MS = 15_000;

export async function pushFiles(parts: PublisherParts, files: string[], opts: { ttlSeconds: number; watchDirectory: string; replicas: number; out: NodeJS.WriteStream; log: Logger }): Promise<boolean> {
  const { search, pool, replicator } = parts;
  search.start();
  const found = await Promise.race([search.ready.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), SEARCH_WAIT_MS).unref())]);
  if (!found) throw new Error(`no SEARCH answer from ${search.current ?? 'any entrance'} within ${SEARCH_WAIT_MS / 1000} s`);
  await pool.maintain();
  let allConfirmed = true;
  for (const file of files) {
    const task = taskFor(file, opts.ttlSeconds, opts.watchDirectory);
    let content: Buffer;
    try {
      content = await readRegularFile(task.localPath, { kind: 'named' });
    } catch (err) {
      if (!isFileRefused(err)) throw err;
      opts.out.write(`REFUSED ${file}: ${err.message}\n`);
      allConfirmed = false;
      continue;
    }
    const sending = new Set<BoxConnection>();
    const frameBytes = content.length;
    const show = (): void => {
      const parts2 = [...sending].map((c) => `${c.boxId} ${Math.floor((100 * Math.max(0, frameBytes - c.bufferedAmount)) / Math.max(1, frameBytes))}%`);
      const line = `${task.filePath} (${content.length} bytes): ${parts2.join(', ') || 'waiting for boxes'}`;
      if (opts.out.isTTY) opts.out.write(`\r${line}\u001b[K`);
    };
    const ticker = setInterval(show, 200);
    const delivery = await replicator.deliver(task.filePath, content, task.ttlSeconds, { onSend: (conn) => sending.add(conn) }).finally(() => clearInterval(ticker));
    if (opts.out.isTTY) opts.out.write('\r\u001b[K');
    const ok = delivery.confirmed.length >= opts.replicas;
    allConfirmed &&= ok;
    opts.out.write(`${ok ? 'sent' : 'INCOMPLETE'} ${task.filePath}: confirmed by ${delivery.confirmed.join(', ') || 'no box'}${delivery.failed.length ? `; failed: ${delivery.failed.map((f) => `${f.boxId} (${f.reason})`).join(', ')}` : ''}\n`);
  }
  return allConfirmed;
}
