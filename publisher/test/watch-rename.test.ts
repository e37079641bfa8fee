// The watched folder tells how a file was found finished: one renamed into place from a temporary name
// (ffmpeg's temp_file, write-then-mv) is reported as 'renamed' at once, and only once (awaitWriteFinish's
// later report of the same file is not sent again); one written in place is reported as 'settled' once
// it stops changing; a temporary name that is still there does not make its neighbour 'renamed'.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { eventually } from '../../test/helpers/agent.js';
import { silentLogger } from '../../shared/src/log.js';
import { watchFolder } from '../src/upload/watcher.js';
import type { FinishedBy } from '../src/upload/watcher.js';

const QUIET_MS = 600; // well past the watcher's 120 ms stability wait


t.test('renamed files are reported as renamed, once; files written in place as settled', async (t) => {
  const root = t.testdir();
  const live = path.join(root, 'live');
  mkdirSync(live);
  const reports: Array<{ file: string; by: FinishedBy }> = [];
  const watch = watchFolder({ directory: root, log: silentLogger(), onFile: (file, by) => reports.push({ file: path.relative(root, file), by }) });
  t.teardown(() => watch.stop());
  await watch.ready;

  writeFileSync(path.join(live, 'seg-0.ts.tmp'), Buffer.alloc(256 * 1024, 7));
  renameSync(path.join(live, 'seg-0.ts.tmp'), path.join(live, 'seg-0.ts'));
  writeFileSync(path.join(live, '.seg-1.ts.tmp'), 'second');
  renameSync(path.join(live, '.seg-1.ts.tmp'), path.join(live, 'seg-1.ts'));
  t.ok(await eventually(() => reports.length >= 2), 'both renamed files reported');
  await new Promise((r) => setTimeout(r, QUIET_MS));
  // Each report waits on its own stat, so two files renamed back to back may be reported in either order.
  const byFile = [...reports].sort((a, b) => a.file.localeCompare(b.file));
  t.same(byFile, [{ file: 'live/seg-0.ts', by: 'renamed' }, { file: 'live/seg-1.ts', by: 'renamed' }], 'as renamed, each once');

  reports.length = 0;
  writeFileSync(path.join(live, 'kept.ts.tmp'), 'still here');
  writeFileSync(path.join(live, 'in-place.ts'), 'written where it is served');
  t.ok(await eventually(() => reports.length >= 1), 'the file written in place is reported');
  await new Promise((r) => setTimeout(r, QUIET_MS));
  t.same(reports, [{ file: 'live/in-place.ts', by: 'settled' }], 'once it stopped changing, as settled (the temporary file beside it is still there)');

  reports.length = 0;
  writeFileSync(path.join(live, 'seg-2.ts.tmp'), 'first version');
  renameSync(path.join(live, 'seg-2.ts.tmp'), path.join(live, 'seg-2.ts'));
  t.ok(await eventually(() => reports.length >= 1), 'renamed');
  await new Promise((r) => setTimeout(r, QUIET_MS));
  writeFileSync(path.join(live, 'seg-2.ts'), 'rewritten in place, longer than before');
  t.ok(await eventually(() => reports.length >= 2), 'a later change to a renamed file is reported too');
  t.same(reports.map((r) => r.by), ['renamed', 'settled'], 'the change as settled');
});
