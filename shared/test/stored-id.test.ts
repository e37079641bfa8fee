// A role's ID that survives restarts, on real files: the configured ID wins; without one an ID is made
// once and read back afterwards; a file holding something else is an error that names the file.
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { isIdOf } from '../src/protocol/index.js';
import { resolveStoredId } from '../src/stored-id.js';

async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'stored-id-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('a configured ID is used as it is and nothing is written', async (t) => {
  const dir = await tempDir(t);
  t.equal(await resolveStoredId('BOX', 'box-kitchen', path.join(dir, 'id')), 'box-kitchen');
  t.same(await readdir(dir), []);
});

t.test('without one, an ID is generated once, kept, and read back on the next start', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'state', 'publisher-id');
  const first = await resolveStoredId('PUBLISHER', undefined, file);
  t.match(first, /^publisher-[0-9a-f]{32}$/);
  t.ok(isIdOf(first, 'PUBLISHER'));
  t.equal(await readFile(file, 'utf8'), `${first}\n`, 'kept with a newline, in a folder made for it');
  t.equal(await resolveStoredId('PUBLISHER', undefined, file), first, 'the same ID after a restart');
  t.same(await readdir(path.dirname(file)), ['publisher-id'], 'no temp file left');
  const box = await resolveStoredId('BOX', undefined, path.join(dir, 'box-id'));
  t.match(box, /^box-[0-9a-f]{32}$/, 'the prefix follows the role');
  t.not(box.slice(4), first.slice(10), 'IDs are random');
});

t.test('a file edited by hand with spaces around the ID still works', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'id');
  await writeFile(file, '  box-hand-made \n\n');
  t.equal(await resolveStoredId('BOX', undefined, file), 'box-hand-made');
});

t.test('a file that holds no ID of this role is an error naming the file, and is left alone', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'id');
  await writeFile(file, 'publisher-abc\n');
  await t.rejects(resolveStoredId('BOX', undefined, file), { message: `${file} does not hold a box ID; fix or delete it` });
  t.equal(await readFile(file, 'utf8'), 'publisher-abc\n', 'not overwritten');
  await writeFile(file, 'box-has:colon');
  await t.rejects(resolveStoredId('BOX', undefined, file), /does not hold a box ID/);
});

t.test('a file that cannot be read (a folder) is that error, not a new ID', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'id');
  await mkdir(file);
  await t.rejects(resolveStoredId('BOX', undefined, file), { code: 'EISDIR' });
});
