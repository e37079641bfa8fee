// Durable whole-file writes on real files: a reader racing the writer sees the old file or the whole
// new one, never a torn one; a write that fails (the disk refuses the bytes, the rename is refused)
// leaves the old file as it was and no temp file behind; the folder can be fsynced.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { fsyncDir, writeFileAtomic, writeNewFileDurably } from '../src/fs-atomic.js';

async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fs-atomic-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('writes the file, creating its folders, with the mode asked, and leaves no temp file', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'a', 'b', 'id');
  await writeFileAtomic(file, 'box-1\n', 0o600);
  t.equal(await readFile(file, 'utf8'), 'box-1\n');
  t.equal((await stat(file)).mode & 0o777, 0o600);
  await writeFileAtomic(file, Buffer.from('box-2\n'));
  t.equal(await readFile(file, 'utf8'), 'box-2\n', 'replaced');
  t.same(await readdir(path.dirname(file)), ['id'], 'only the target is left');
});

t.test('a reader racing the writer sees the old file or the whole new one, never a torn one', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'playlist');
  // Different sizes and bytes, so a torn file (a prefix, a mix, an empty file) shows up as neither.
  const versions = [Buffer.alloc(256 * 1024, 'a'), Buffer.alloc(384 * 1024, 'b'), Buffer.alloc(128 * 1024, 'c')];
  const known = new Set(versions.map((v) => v.toString('latin1')));
  await writeFileAtomic(file, versions[0] as Buffer);
  let writing = true;
  let reads = 0;
  let torn = 0;
  const reader = (async () => {
    while (writing) {
      const seen = (await readFile(file)).toString('latin1');
      reads += 1;
      if (!known.has(seen)) torn += 1;
    }
  })();
  for (let i = 1; i <= 60; i++) await writeFileAtomic(file, versions[i % versions.length] as Buffer);
  writing = false;
  await reader;
  t.ok(reads > 0, `the reader read while the writer wrote (${reads} reads)`);
  t.equal(torn, 0, 'no read saw a partial file');
  t.same(await readFile(file), versions[60 % versions.length]);
  t.same(await readdir(dir), ['playlist'], 'no temp file left');
});

t.test('a write the disk refuses leaves the old file whole and no temp file (file size limit in a child)', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'state.json');
  await writeFile(file, 'old and whole\n');
  const script = path.join(dir, '..', `${path.basename(dir)}-write.mjs`);
  t.teardown(() => rm(script, { force: true }));
  const module = new URL('../src/fs-atomic.js', import.meta.url).href;
  await writeFile(
    script,
    `import { writeFileAtomic } from ${JSON.stringify(module)};
process.on('SIGXFSZ', () => {});
try {
  await writeFileAtomic(process.argv[2], Buffer.alloc(1024 * 1024, 120));
  console.log(JSON.stringify({ wrote: true }));
} catch (err) {
  console.log(JSON.stringify({ code: err.code }));
}
`,
  );
  // ulimit -f: the kernel refuses bytes past 64 KiB with EFBIG, a real failed write. The script handles
  // SIGXFSZ (Node resets inherited dispositions at start), so the write fails instead of killing it.
  const { stdout } = await promisify(execFile)('bash', ['-c', 'ulimit -f 64 && exec "$0" "$1" "$2"', process.execPath, script, file]);
  t.same(JSON.parse(stdout), { code: 'EFBIG' }, 'the write failed and the error reached the caller');
  t.equal(await readFile(file, 'utf8'), 'old and whole\n', 'the old file is untouched');
  t.same(await readdir(dir), ['state.json'], 'the temp file was removed');
});

t.test('a refused rename leaves no temp file and the target as it was', async (t) => {
  const dir = await tempDir(t);
  const target = path.join(dir, 'taken');
  await mkdir(target);
  await writeFile(path.join(target, 'inside'), 'kept');
  const err = await writeFileAtomic(target, 'new').then(() => undefined, (e: NodeJS.ErrnoException) => e);
  t.ok(err, 'renaming a file over a folder is refused');
  t.equal(err?.code, 'EISDIR');
  t.same(await readdir(dir), ['taken'], 'no temp file left beside it');
  t.equal(await readFile(path.join(target, 'inside'), 'utf8'), 'kept');
});

t.test('writeNewFileDurably creates a file that must not exist yet', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'segment.ts');
  await writeNewFileDurably(file, Buffer.from('first'), 0o640);
  t.equal(await readFile(file, 'utf8'), 'first');
  t.equal((await stat(file)).mode & 0o777, 0o640);
  const err = await writeNewFileDurably(file, 'second').then(() => undefined, (e: NodeJS.ErrnoException) => e);
  t.equal(err?.code, 'EEXIST', 'an existing file is never overwritten');
  t.equal(await readFile(file, 'utf8'), 'first', 'and keeps its bytes');
});

t.test('fsyncDir syncs a folder and rejects a missing one', async (t) => {
  const dir = await tempDir(t);
  await t.resolves(fsyncDir(dir));
  const err = await fsyncDir(path.join(dir, 'missing')).then(() => undefined, (e: NodeJS.ErrnoException) => e);
  t.equal(err?.code, 'ENOENT');
});
