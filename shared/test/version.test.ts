// The version and commit a build reports: from build/build-info.json, which `make build` writes.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { buildInfo } from '../src/version.js';

t.test('buildInfo reports what make build wrote, and the same object every time', async (t) => {
  const written = JSON.parse(readFileSync(new URL('../../build-info.json', import.meta.url), 'utf8')) as { version: string; commit: string };
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  const info = buildInfo();
  t.same(info, written);
  t.equal(info.version, pkg.version, 'the version is package.json\'s');
  t.match(info.commit, /^([0-9a-f]{12}(-dirty)?|unknown)$/);
  t.equal(buildInfo(), info, 'read once');
});
