// shared/src/failpoint.ts in a real child process: DANDELION_FAILPOINTS naming a point kills the process
// there with SIGKILL (nothing after it runs, no exit handler); points it does not name, or no variable at
// all, do nothing.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import t from 'tap';

const MODULE = pathToFileURL(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/failpoint.js')).href;

/** A process that passes `first` then `second`, printing as it goes and on exit. */
function run(failpoints: string | undefined): { signal: NodeJS.Signals | null; status: number | null; stdout: string } {
  const script = `
    const { failpoint, armedFailpoints } = await import(${JSON.stringify(MODULE)});
    process.on('exit', () => console.log('exit handler'));
    console.log('armed ' + JSON.stringify(armedFailpoints()));
    failpoint('test:first');
    console.log('after first');
    failpoint('test:second');
    console.log('after second');`;
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
  if (failpoints !== undefined) env.DANDELION_FAILPOINTS = failpoints;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8' });
  return { signal: r.signal, status: r.status, stdout: r.stdout };
}

t.test('unset or naming other points: a no-op', async (t) => {
  for (const value of [undefined, '', 'test:third', ' , ']) {
    const r = run(value);
    t.match(r, { signal: null, status: 0 }, `DANDELION_FAILPOINTS=${JSON.stringify(value)}`);
    t.equal(r.stdout, 'armed []\nafter first\nafter second\nexit handler\n'.replace('[]', value === 'test:third' ? '["test:third"]' : '[]'));
  }
});

t.test('naming a point: SIGKILL there, nothing after it runs', async (t) => {
  const second = run('test:other, test:second');
  t.equal(second.signal, 'SIGKILL');
  t.equal(second.stdout, 'armed ["test:other","test:second"]\nafter first\n', 'killed at the second point, no exit handler');
  const first = run('test:first');
  t.equal(first.signal, 'SIGKILL');
  t.equal(first.stdout, 'armed ["test:first"]\n');
});
