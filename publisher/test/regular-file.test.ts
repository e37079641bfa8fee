// An encoder that writes its playlist to a temp file and renames it over the old one (ffmpeg's
// `-hls_flags temp_file`) swaps the file between the publisher's check and its open. Such a read is a
// read of the new file, never a refusal (a refusal was a 404 for the playlist, and a viewer whose first
// playlist request got it never started playing). What is not a regular file is still refused.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { isFileRefused, readRegularFile } from '../src/upload/regular-file.js';
import { track } from '../../test/helpers/children.js';

const READS = 300;
// Often enough that reads without the second look are refused a few times in 300 (6 to 8 here), seldom
// enough that five checks in a row all losing the race does not happen.
const RENAME_EVERY_MS = 10;

/** A child process that renames a fresh copy over `target` every RENAME_EVERY_MS, for at most 30 s; resolves once it runs. */
async function startRenamer(target: string): Promise<() => void> {
  const script = `
    const fs = require('node:fs');
    const [target, pauseMs] = process.argv.slice(1);
    const pause = new Int32Array(new SharedArrayBuffer(4));
    const until = Date.now() + 30000;
    for (let n = 0; Date.now() < until; n++) {
      fs.writeFileSync(target + '.tmp', 'version ' + (n % 2));
      fs.renameSync(target + '.tmp', target);
      Atomics.wait(pause, 0, 0, Number(pauseMs));
    }`;
  const child = spawn(process.execPath, ['-e', script, target, String(RENAME_EVERY_MS)], { stdio: 'ignore' });
  track(child);
  const started = Date.now();
  while (readFileSync(target, 'utf8') !== 'version 1' && Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 10));
  return () => void child.kill('SIGKILL');
}

t.test('a playlist renamed over while it is read is read, not refused', async (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'dandelion-regular-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const target = path.join(root, 'index.m3u8');
  writeFileSync(target, 'version 0');
  const stop = await startRenamer(target);
  t.teardown(stop);

  const refusals: string[] = [];
  const contents = new Set<string>();
  for (let i = 0; i < READS; i++) {
    try {
      contents.add((await readRegularFile(target, { kind: 'inside', root })).toString());
    } catch (err) {
      refusals.push(isFileRefused(err) ? `${err.code}: ${err.message}` : String(err));
    }
  }
  stop();
  t.same(refusals, [], `${READS} reads while the file was renamed over every ${RENAME_EVERY_MS} ms: none refused`);
  t.ok([...contents].every((c) => c === 'version 0' || c === 'version 1'), `every read is one whole version (${[...contents].join(', ')})`);
});

t.test('a directory in the file\'s place is still refused', async (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'dandelion-regular-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(path.join(root, 'index.m3u8'));
  await t.rejects(readRegularFile(path.join(root, 'index.m3u8'), { kind: 'inside', root }), { code: 'E_NOT_REGULAR' });
});
