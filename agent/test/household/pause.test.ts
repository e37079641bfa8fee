// The household's pause decided from settings, clock and the month's count; the month's count kept on
// disk (a corrupt file moved aside and reported, never a crash); the cap on nginx's rates; the settings
// checked by the config schema's own parsers, the field named.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { silentLogger } from '../../../shared/src/log.js';
import { perConnectionRate } from '../../src/bandwidth/policy.js';
import { cappedRates } from '../../src/household/cap.js';
import { householdExchangeFields } from '../../src/household/exchange-fields.js';
import { Household } from '../../src/household/household.js';
import { MonthlyUsage, nextMonthStart } from '../../src/household/monthly-usage.js';
import { pauseState } from '../../src/household/pause.js';
import { renderSite } from '../../src/nginx/config.js';
import { BadSetting, decodeOverrides } from '../../src/household/settings.js';

const at = (month: number, day: number, hh: number, mm = 0): number => new Date(2026, month, day, hh, mm).getTime();
const NONE = { UPLOAD_QUOTA_GB: 0, QUIET_HOURS: '', UPLOAD_CAP_MBIT: 0 };

t.test('quota: paused once used up, until the next month starts', async (t) => {
  const quota = { ...NONE, UPLOAD_QUOTA_GB: 2 };
  t.same(pauseState(quota, at(11, 5, 12), 1.99e9), { reason: undefined, until: undefined });
  t.same(pauseState(quota, at(11, 5, 12), 2e9), { reason: 'quota', until: new Date(2027, 0, 1).getTime() });
  t.equal(nextMonthStart(at(1, 28, 23, 59)), new Date(2026, 2, 1).getTime());
});

t.test('quiet hours and quota together: the later end is the reason', async (t) => {
  const both = { ...NONE, UPLOAD_QUOTA_GB: 1, QUIET_HOURS: '23:00-07:00' };
  t.same(pauseState(both, at(11, 5, 23, 30), 0), { reason: 'quiet-hours', until: at(11, 6, 7) });
  t.same(pauseState(both, at(11, 5, 23, 30), 5e9), { reason: 'quota', until: new Date(2027, 0, 1).getTime() });
});

t.test('the month\'s count: persisted, rolled over, a corrupt file moved aside', async (t) => {
  const dir = t.testdir();
  const file = path.join(dir, 'upload-month.json');
  const usage = new MonthlyUsage({ file, log: silentLogger() });
  await usage.load(at(11, 5, 12));
  usage.add(1234, at(11, 5, 12));
  await usage.save();
  const again = new MonthlyUsage({ file, log: silentLogger() });
  await again.load(at(11, 6, 12));
  t.equal(again.usedBytes(at(11, 6, 12)), 1234, 'kept across a restart');
  t.equal(again.usedBytes(at(12, 1, 0)), 0, 'a new month starts from 0');
  writeFileSync(file, '{"MONTH": "2026-12", "BYTES": "lots"}');
  const corrupt = new MonthlyUsage({ file, log: silentLogger() });
  await corrupt.load(at(11, 6, 12));
  t.equal(corrupt.usedBytes(at(11, 6, 12)), 0, 'counted as 0');
  const aside = readdirSync(dir).filter((f) => f.startsWith('upload-month.json.corrupt-'));
  t.equal(aside.length, 1, 'moved aside first');
  t.match(readFileSync(path.join(dir, aside[0] ?? ''), 'utf8'), /lots/, 'kept as it was');
  t.notOk(existsSync(file));
});

t.test('settings are checked by the config schema, the field named', async (t) => {
  t.same(decodeOverrides({ UPLOAD_QUOTA_GB: '12', QUIET_HOURS: '', UPLOAD_CAP_MBIT: 5, OTHER: 'x' }), { UPLOAD_QUOTA_GB: 12, QUIET_HOURS: '', UPLOAD_CAP_MBIT: 5 });
  for (const [raw, field] of [[{ UPLOAD_CAP_MBIT: -1 }, 'UPLOAD_CAP_MBIT'], [{ QUIET_HOURS: '25:00-01:00' }, 'QUIET_HOURS'], [{ UPLOAD_QUOTA_GB: 'many' }, 'UPLOAD_QUOTA_GB']] as const) {
    let named: string | undefined;
    try {
      decodeOverrides(raw);
    } catch (err) {
      if (err instanceof BadSetting) named = err.field;
    }
    t.equal(named, field, `${field} named`);
  }
});

t.test('the cap bounds every per-connection rate, and wins over a larger budget', async (t) => {
  const rates = [perConnectionRate(80, 32), perConnectionRate(80, 1), perConnectionRate(80, 2), perConnectionRate(80, 3)];
  t.same(cappedRates(rates, 0, 32), rates, 'no cap');
  t.same(cappedRates(rates, 8, 32), [perConnectionRate(8, 32), 1_000_000, 500_000, 333_333]);
  t.same(cappedRates([10, 10], 8, 1), [10, 10], 'a lower rate stays');
});

t.test('the household object: cap, pause, listeners, EXCHANGE fields', async (t) => {
  const dir = t.testdir();
  let now = at(11, 5, 12);
  const household = new Household({ config: { UPLOAD_QUOTA_GB: 0.000001, QUIET_HOURS: '23:00-07:00', UPLOAD_CAP_MBIT: 20 }, runDirectory: dir, log: silentLogger(), now: () => now });
  await household.start();
  t.teardown(() => household.stop());
  const heard: Array<string | undefined> = [];
  household.onChange((v) => heard.push(v.pause.reason));
  t.equal(household.capMbit, 20);
  t.equal(household.ceilingMbit(80), 20, 'the controller\'s maximum: under the cap');
  t.equal(household.ceilingMbit(12), 12);
  t.same(householdExchangeFields(household.view()), { PAUSED: '', UPLOAD_CAP_MBIT: 20, QUOTA_GB: 0.000001, QUOTA_USED_GB: 0 });
  now = at(11, 5, 23, 30);
  household.evaluate();
  t.same(household.pause, { reason: 'quiet-hours', until: at(11, 6, 7) });
  t.equal(household.ceilingMbit(80), 0, 'nothing while paused');
  t.equal(householdExchangeFields(household.view()).PAUSED_UNTIL, at(11, 6, 7) / 1000);
  now = at(11, 6, 8);
  household.evaluate();
  household.served(999);
  t.equal(household.pause.reason, undefined, 'under the quota');
  household.served(1);
  t.equal(household.pause.reason, 'quota', '1000 bytes use up 0.000001 GB');
  await household.set({ UPLOAD_CAP_MBIT: 3 });
  t.equal(household.capMbit, 3);
  t.same(heard, ['quiet-hours', undefined, 'quota', 'quota'], 'each change heard');
  t.same(JSON.parse(readFileSync(path.join(dir, 'household.json'), 'utf8')), { UPLOAD_CAP_MBIT: 3 });
  await household.reset();
  t.equal(household.capMbit, 20, 'back to dandelion.yaml');
});

t.test('a pause answers 503 on both viewer ports; status and the settings stay', async (t) => {
  const site = {
    boxId: 'box-p', listenIp: '127.0.0.1', httpPort: 8080, agentHost: '127.0.0.1', agentPort: 7071, baseDirectory: '/srv/files', accessLogPath: '/run/access.log',
    ratesByConnections: [100, 200], maxConnections: 1, statusDirectory: '/run/status', https: { port: 8443, chainPath: '/run/chain.pem', keyPath: '/run/key.pem' },
  };
  t.notMatch(renderSite(site), /return 503/, 'serving: no 503');
  const paused = renderSite({ ...site, pause: { sentence: 'paused: the household\'s quiet hours until 2026-12-06 07:00', retryAfterSeconds: 27_000.2 } });
  t.equal(paused.match(/return 503 "paused: the household's quiet hours until 2026-12-06 07:00\\n";/g)?.length, 2, 'HTTP and HTTPS');
  t.equal(paused.match(/add_header Retry-After 27001 always;/g)?.length, 2);
  t.equal(paused.match(/location = \/status\/household \{/g)?.length, 2, 'the settings are proxied on both');
});
