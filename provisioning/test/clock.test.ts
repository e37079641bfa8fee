// Setting the clock before the agent starts: NTP first; else an entrance's Date header (a real
// entrance here), skipping entrances that do not answer; a clock already right is left to NTP.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { startEntrance } from '../../test/helpers/entrance.js';
import { startRedis } from '../../test/helpers/redis.js';
import { SYSTEM_CLOCK, settleClock } from '../src/clock.js';
import type { ClockDeps } from '../src/clock.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/dandelion');
const DEAD = 'ws://127.0.0.1:9/dandelion/ws/';

t.test('NTP, else the entrance, else nothing', async (t) => {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url });
  const set: number[] = [];
  const lines: string[] = [];
  const deps = (over: Partial<ClockDeps>): ClockDeps => ({
    ...SYSTEM_CLOCK,
    ntpSynced: async () => false,
    setClock: async (ms) => void set.push(ms),
    say: (l) => void lines.push(l),
    ...over,
  });

  t.equal(await settleClock([entrance.url], 5, deps({ ntpSynced: async () => true })), 'ntp', 'NTP synchronised: nothing else asked');
  t.same(set, []);

  const booted1970 = deps({ now: () => 86_400_000 });
  t.equal(await settleClock([DEAD, entrance.url], 0, booted1970), 'entrance', 'a 1970 clock is set from the entrance');
  t.equal(set.length, 1);
  t.ok(Math.abs((set[0] ?? 0) - Date.now()) < 5_000, 'to the entrance\'s time, within a few seconds');
  t.match(lines.join('\n'), /no time from ws:\/\/127\.0\.0\.1:9\//, 'the silent entrance was skipped, and said so');

  set.length = 0;
  t.equal(await settleClock([entrance.url], 0, deps({})), 'already right', 'a clock within two minutes is left to NTP');
  t.same(set, []);
  t.equal(await settleClock([DEAD], 0, deps({ now: () => 0 })), 'unknown', 'no source at all: says so, does not fail');
  t.same(set, []);
});

t.test('the command (dry run)', async (t) => {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url });
  const dir = t.testdir();
  const file = path.join(dir, 'dandelion.yaml');
  writeFileSync(file, `ENTRANCE_URLS: ["${entrance.url}"]\nENROLMENT_TOKEN: dlt_0123456789ab_${'A'.repeat(43)}\n`);
  const { stdout } = await promisify(execFile)(BIN, ['provision', 'clock', '--config', file, '--wait', '0', '--dry-run'], { env: { ...process.env, PATH: '/usr/bin:/bin' } });
  t.match(stdout, /clock: (set by NTP|within -?\d+ s of ws:\/\/127\.0\.0\.1\S+; left to NTP)/, 'reports what it found');
  const bad = await promisify(execFile)(BIN, ['provision', 'clock', '--config', file, '--wait', 'soon']).catch((err: { code: number; stderr: string }) => err);
  t.equal((bad as { code: number }).code, 2, 'a bad --wait exits 2');
});
