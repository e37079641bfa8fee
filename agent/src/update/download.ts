/**
 * The release binary into UPDATE_DIRECTORY/download.part, resumed with a Range request from what an earlier
 * attempt (a restart, a power cut, a dropped connection) left there, paced to the rate the household's budget
 * allows, and never past the manifest's SIZE. The caller checks the SHA-256 of the whole file afterwards: a
 * part file from another release fails that check and is dropped.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';

export interface DownloadOptions {
  url: string;
  file: string;
  size: number;
  /** The rate the download may take now (Mbit/s); undefined: unpaced. */
  maxMbit(): number | undefined;
  /** Called after each chunk is written to `file` (the updater's failpoint for a download cut short). */
  wrote?: () => void;
  /** No byte for this long: the attempt fails (the next offer resumes it). */
  idleTimeoutMs?: number;
}

/** Bytes already in `file` that a resume can keep: none when there is no file or it is longer than the release. */
async function resumableBytes(file: string, size: number): Promise<number> {
  try {
    const { size: have } = await stat(file);
    if (have <= size) return have;
  } catch {
    return 0;
  }
  await rm(file, { force: true });
  return 0;
}

export async function downloadResumable(o: DownloadOptions): Promise<void> {
  let have = await resumableBytes(o.file, o.size);
  if (have === o.size) return;
  const res = await get(o.url, have, o.idleTimeoutMs ?? 30_000);
  if (res.statusCode === 200 && have > 0) have = 0; // the server ignored Range: start again
  else if (res.statusCode === 206) {
    const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
    if (!range || Number(range[1]) !== have) {
      res.destroy();
      throw new Error(`the release server answered Range bytes=${have}- with Content-Range ${String(res.headers['content-range'])}`);
    }
  } else if (res.statusCode !== 200) {
    res.destroy();
    throw new Error(`the release server answered HTTP ${res.statusCode ?? '?'}`);
  }
  const handle = await open(o.file, have === 0 ? 'w' : 'a', 0o600);
  const started = Date.now();
  let got = 0;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      if (have + got + chunk.length > o.size) throw new Error(`the release server sent more than the release's ${o.size} bytes`);
      await handle.write(chunk);
      got += chunk.length;
      o.wrote?.();
      // Pacing: sleep until the average rate since the start is back under the allowed one.
      const mbit = o.maxMbit();
      if (mbit === 0) throw new Error('the household\'s budget allows no download now (quiet hours); the next offer resumes it');
      if (mbit !== undefined) {
        const aheadMs = (got * 8) / (mbit * 1000) - (Date.now() - started);
        if (aheadMs > 5) await sleep(aheadMs);
      }
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  if (have + got !== o.size) throw new Error(`the download ended after ${have + got} of ${o.size} bytes; the next offer resumes it`);
}

function get(url: string, from: number, idleTimeoutMs: number): Promise<http.IncomingMessage> {
  const client = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.get(url, { headers: from > 0 ? { range: `bytes=${from}-` } : {}, timeout: idleTimeoutMs }, resolve);
    req.on('timeout', () => req.destroy(new Error(`no answer from the release server for ${idleTimeoutMs} ms`)));
    req.on('error', reject);
  });
}

export async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
