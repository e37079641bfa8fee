// QUIET_HOURS: 'HH:MM-HH:MM' local-time ranges, comma-separated, possibly crossing midnight; a bad value
// is a config error naming QUIET_HOURS (exit 2 from `dandelion agent`), and the box is quiet exactly
// inside the ranges, until the end of the last range that touches the one it is in.
import t from 'tap';
import { loadRoleConfig } from '../src/config/load.js';
import { ConfigError } from '../src/config/spec.js';
import { checkQuietHours, parseQuietHours, quietUntil } from '../src/quiet-hours.js';

const at = (day: number, hh: number, mm = 0): number => new Date(2026, 11, day, hh, mm).getTime();

t.test('parsing', async (t) => {
  t.same(parseQuietHours(''), []);
  t.same(parseQuietHours('23:00-07:00, 12:30-13:15'), [{ startMinute: 1380, endMinute: 420 }, { startMinute: 750, endMinute: 795 }]);
  for (const bad of ['23:00', '24:00-01:00', '7:00-8:00', '10:00-10:00', '10:60-11:00', '10:00-11:00,', 'night']) {
    t.type(checkQuietHours(bad), 'string', `${bad} refused`);
  }
  t.equal(checkQuietHours('00:00-23:59'), undefined);
});

t.test('a bad QUIET_HOURS is a config error naming the key', async (t) => {
  try {
    loadRoleConfig('agent', undefined, { DANDELION_QUIET_HOURS: '23-7' });
    t.fail('should throw');
  } catch (err) {
    t.ok(err instanceof ConfigError);
    if (err instanceof ConfigError) {
      t.same(err.problems.map((p) => p.key), ['QUIET_HOURS']);
      t.match(err.problems[0]?.reason, /HH:MM-HH:MM/);
    }
  }
  t.equal(loadRoleConfig('agent', undefined, { DANDELION_QUIET_HOURS: '23:00-07:00' }).config.QUIET_HOURS, '23:00-07:00');
});

t.test('quiet until the range ends, across midnight, ranges that touch followed', async (t) => {
  const night = parseQuietHours('23:00-07:00');
  t.equal(quietUntil(night, at(5, 22, 59)), undefined, 'before');
  t.equal(quietUntil(night, at(5, 23, 0)), at(6, 7), 'from the start, until 07:00 the next day');
  t.equal(quietUntil(night, at(6, 3)), at(6, 7), 'after midnight, until 07:00 that day');
  t.equal(quietUntil(night, at(6, 7)), undefined, 'the end is no longer quiet');
  const day = parseQuietHours('12:00-13:00');
  t.equal(quietUntil(day, at(5, 12, 30)), at(5, 13));
  t.equal(quietUntil(day, at(5, 13, 30)), undefined);
  const chained = parseQuietHours('22:00-23:00,23:00-07:00,06:00-08:00');
  t.equal(quietUntil(chained, at(5, 22, 10)), at(6, 8), 'followed through touching and overlapping ranges');
});
