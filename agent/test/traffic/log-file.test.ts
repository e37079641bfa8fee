// The access-log file as the reader holds it: opened by path and, when asked, only if it is still the
// file with the saved inode; missing files are undefined, not errors; a truncation in place sends the
// offset back to 0, while a file that only grew keeps it.
import { renameSync, truncateSync, writeFileSync, appendFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { silentLogger } from '../../../shared/src/log.js';
import { openLog, restartIfTruncated, statOrUndefined } from '../../src/traffic/log-file.js';

t.test('opened by path, checked by inode', async (t) => {
  const dir = t.testdir();
  const logPath = path.join(dir, 'access.log');
  t.equal(await openLog(logPath), undefined, 'missing: undefined');
  t.equal(await statOrUndefined(logPath), undefined);
  writeFileSync(logPath, 'a\n');
  const first = await openLog(logPath);
  t.ok(first);
  if (!first) return;
  t.teardown(() => first.handle.close());
  t.match(first, { path: logPath, offset: 0 });
  t.equal(first.inode, String((await statOrUndefined(logPath))?.ino), 'the inode as a decimal string');

  renameSync(logPath, `${logPath}.1`);
  writeFileSync(logPath, 'b\n');
  t.equal(await openLog(logPath, first.inode), undefined, 'a new file at the path is not the saved one');
  const rotated = await openLog(`${logPath}.1`, first.inode);
  t.equal(rotated?.inode, first.inode, 'found again under its rotated name');
  await rotated?.handle.close();
});

t.test('a truncation in place restarts at 0; growth keeps the offset', async (t) => {
  const logPath = path.join(t.testdir(), 'access.log');
  writeFileSync(logPath, 'line one\nline two\n');
  const file = await openLog(logPath);
  if (!file) return t.fail('not opened');
  t.teardown(() => file.handle.close());
  file.offset = 9; // after "line one\n"
  appendFileSync(logPath, 'line three\n');
  await restartIfTruncated(file, silentLogger());
  t.equal(file.offset, 9, 'grown: kept');
  truncateSync(logPath, 0);
  await restartIfTruncated(file, silentLogger());
  t.equal(file.offset, 0, 'emptied: from the start');
  file.offset = 9;
  writeFileSync(logPath, 'a much longer first line\n'); // refilled past the offset, without "\n" before it
  await restartIfTruncated(file, silentLogger());
  t.equal(file.offset, 0, 'refilled past the offset: caught by the byte before it');
});
