// What every `dandelion <role>` command shares: --config/-c and --help/-h, an unknown option is a
// UsageError, and exitFor turns errors into the documented exit codes with a message naming the key.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { EXIT_CODES_HELP, ExitCode, UsageError, exitFor, loadConfigForRole, parseRoleArgs } from '../src/cli.js';
import { ConfigError } from '../src/config/spec.js';

t.test('parseRoleArgs', async (t) => {
  t.match(parseRoleArgs(['--config', 'box.yaml']), { help: false, configFile: 'box.yaml', positionals: [] });
  t.match(parseRoleArgs(['-c', 'box.yaml', 'extra']), { configFile: 'box.yaml', positionals: ['extra'] });
  t.match(parseRoleArgs(['-h']), { help: true, configFile: undefined });
  t.match(parseRoleArgs(['--config=x.yaml', '--help']), { help: true, configFile: 'x.yaml' });
  t.match(parseRoleArgs(['--entrance', 'ws://e/', '--force'], { entrance: { type: 'string' }, force: { type: 'boolean', short: 'f' } }).values, { entrance: 'ws://e/', force: true }, 'a command adds its own options');
  t.throws(() => parseRoleArgs(['--bogus']), UsageError, 'an unknown option');
  t.throws(() => parseRoleArgs(['--config']), UsageError, '--config without its value');
  t.throws(() => parseRoleArgs(['--help=yes']), UsageError, 'a value given to a flag');
});

t.test('exitFor: bad config and bad usage exit 2 and say what to fix; anything else exits 1', async (t) => {
  const config = exitFor(new ConfigError([{ key: 'BOX_PORT', reason: 'must be a port' }, { key: 'REDIS_URL', reason: 'not a URL' }]));
  t.equal(config.code, ExitCode.USAGE);
  t.equal(config.message, 'bad config: BOX_PORT: must be a port\n  REDIS_URL: not a URL', 'each key named on its own line');
  const usage = exitFor(new UsageError("Unknown option '--bogus'"));
  t.same(usage, { code: 2, message: "Unknown option '--bogus'\nTry 'dandelion --help'." });
  t.same(exitFor(new Error('connect ECONNREFUSED')), { code: 1, message: 'connect ECONNREFUSED' });
  t.same(exitFor('a thrown string'), { code: 1, message: 'a thrown string' });
  t.same(ExitCode, { OK: 0, FAILURE: 1, USAGE: 2 });
  for (const code of Object.values(ExitCode)) t.match(EXIT_CODES_HELP, new RegExp(`^  ${code}  `, 'm'), `--help documents exit code ${code}`);
});

t.test('loadConfigForRole reads a real file; a bad key is a ConfigError that exits 2 naming it', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const good = path.join(dir, 'good.yaml');
  await writeFile(good, 'LOG_LEVEL: debug\n');
  t.equal(loadConfigForRole('publisher', good).config.LOG_LEVEL, 'debug');
  const bad = path.join(dir, 'bad.yaml');
  await writeFile(bad, 'LOG_LEVEL: chatty\n');
  let caught: unknown;
  try {
    loadConfigForRole('publisher', bad);
  } catch (err) {
    caught = err;
  }
  t.ok(caught instanceof ConfigError);
  const exit = exitFor(caught);
  t.equal(exit.code, 2);
  t.match(exit.message, /^bad config: LOG_LEVEL: /);
  t.equal(exitFor((() => { try { loadConfigForRole('publisher', path.join(dir, 'missing.yaml')); } catch (err) { return err; } })()).code, 2, 'a missing file too');
});
