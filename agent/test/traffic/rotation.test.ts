// Log rotation by rename loses and repeats no line, whether it happens while the tail runs or while
// the agent is stopped; a truncation in place restarts at offset 0 with a warning; the tail never
// changes nginx's log.
import { appendFileSync, readFileSync, renameSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import t from 'tap';
import { accessLine, tailSetup } from './fixtures/access-lines.js';

const lines = (from: number, to: number): string =>
  Array.from({ length: to - from + 1 }, (_, k) => accessLine({ uri: `/publisher-a/${from + k}.ts`, bytes: from + k })).join('');
const sum = (from: number, to: number): number => ((from + to) * (to - from + 1)) / 2;
const inodeOf = (file: string): string => String(statSync(file, { bigint: true }).ino);

t.test('rotation while running: the old file is finished before the new one is read', async (t) => {
  const s = await tailSetup(t);
  const tail = s.tail();
  const rotated = `${s.logPath}.1`;
  appendFileSync(s.logPath, lines(1, 3));
  t.equal(await tail.pass(), 3);
  appendFileSync(s.logPath, lines(4, 5));

  renameSync(s.logPath, rotated); // logrotate renames…
  writeFileSync(s.logPath, ''); // …creates the new, empty log…
  appendFileSync(rotated, lines(6, 6)); // …and nginx writes to the old one until it reopens
  t.equal(await tail.pass(), 3, 'lines 4-6 from the renamed file');
  t.equal((await s.state()).offset.inode, inodeOf(rotated), 'still on the old file while the new one is empty');

  appendFileSync(rotated, lines(7, 7)); // a worker that had not reopened yet
  appendFileSync(s.logPath, lines(8, 11)); // nginx reopened: new lines go to the new file
  t.equal(await tail.pass(), 5, 'the last old line, then the new file from its start');
  let state = await s.state();
  t.same(state.offset, { path: s.logPath, inode: inodeOf(s.logPath), offset: String(statSync(s.logPath).size) });
  t.equal(state.recordKeys.length, 11);
  t.equal(state.requests, 11);
  t.equal(state.bytes, sum(1, 11));
  t.equal(tail.bytesServedTotal(), sum(1, 11));

  appendFileSync(s.logPath, lines(12, 12));
  t.equal(await tail.pass(), 1);
  state = await s.state();
  t.equal(state.requests, 12);
  t.equal(new Set(state.pending.map((a) => a.ID)).size, state.pending.length, 'aggregate IDs unique across both files');
});

t.test('rotation while the agent is stopped: the renamed file is found as .1 by inode', async (t) => {
  const s = await tailSetup(t);
  const rotated = `${s.logPath}.1`;
  appendFileSync(s.logPath, lines(1, 3));
  const before = s.tail();
  t.equal(await before.pass(), 3);
  await before.stop();

  appendFileSync(s.logPath, lines(4, 5)); // written after the agent stopped…
  renameSync(s.logPath, rotated); // …then rotated
  writeFileSync(s.logPath, lines(6, 8));

  const after = s.tail();
  t.equal(await after.pass(), 5, 'the rest of .1, then the new log');
  const state = await s.state();
  t.equal(state.recordKeys.length, 8);
  t.equal(state.requests, 8);
  t.equal(state.bytes, sum(1, 8));
  t.equal(state.offset.inode, inodeOf(s.logPath));
  t.equal(await after.pass(), 0);
  t.same(s.events(), [], 'no warning: nothing was lost');
});

t.test('a saved position whose file is gone: warn and read the live log from its start', async (t) => {
  const s = await tailSetup(t);
  appendFileSync(s.logPath, lines(1, 2));
  const before = s.tail();
  t.equal(await before.pass(), 2);
  await before.stop();
  renameSync(s.logPath, `${s.logPath}.2`); // rotated twice: no longer at .1
  writeFileSync(s.logPath, lines(3, 5));

  t.equal(await s.tail().pass(), 3);
  t.equal((await s.state()).requests, 5);
  t.equal(s.events().filter((e) => e.level === 'warn').length, 1);
});

t.test('truncation in place restarts at offset 0 with a warning', async (t) => {
  const s = await tailSetup(t);
  const tail = s.tail();
  writeFileSync(s.logPath, lines(1, 4));
  t.equal(await tail.pass(), 4);

  truncateSync(s.logPath, 0); // copytruncate, or `> access.log`
  appendFileSync(s.logPath, lines(5, 6)); // shorter than what was read
  t.equal(await tail.pass(), 2);
  t.equal(s.events().filter((e) => e.level === 'warn').length, 1, 'warned once');
  t.equal((await s.state()).offset.offset, String(statSync(s.logPath).size));

  // Truncated and refilled past the old offset before the tail looked: caught by the byte before it.
  const offset = statSync(s.logPath).size;
  truncateSync(s.logPath, 0);
  appendFileSync(s.logPath, accessLine({ uri: '/publisher-a/a-longer-name-than-before-7.ts', bytes: 7 }) + lines(8, 9));
  t.not(readFileSync(s.logPath)[offset - 1], 0x0a, 'precondition: the old offset falls inside a line');
  t.equal(await tail.pass(), 3, 'all three refilled lines');
  t.equal(s.events().filter((e) => e.level === 'warn').length, 2);

  const state = await s.state();
  t.equal(state.requests, 9);
  t.equal(state.bytes, sum(1, 9));
  t.equal(state.recordKeys.length, 9);
});

t.test('the tail never changes the log', async (t) => {
  const s = await tailSetup(t);
  const text = lines(1, 5) + 'partial';
  writeFileSync(s.logPath, text);
  const tail = s.tail();
  await tail.pass();
  await tail.collect(100);
  await tail.stop();
  t.equal(readFileSync(s.logPath, 'utf8'), text);
});
