// A box whose household paused it (PAUSED quota or quiet-hours) is never listed by SEARCH, whether the
// publisher searches by place or not, and is listed again from the EXCHANGE that says PAUSED ''. The
// dashboard API and /metrics say which boxes are paused and why; a box that sends none of the fields
// (an original client) is serving. A bad value is refused by name and changes nothing stored. The
// dashboard (headless Chromium) shows each box's reason, cap, quota and viewer rate.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { hashPassword } from '../../shared/src/password.js';
import { startRedis } from '../../test/helpers/redis.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { ORIGINAL_PUBLISHERS, boxExchange, searchRequest } from '../../test/helpers/messages.js';
import { sampleValue, scrape } from '../../test/helpers/prometheus.js';
import { eventually } from '../../test/helpers/agent.js';
import { launchBrowser } from '../../test/helpers/browser.js';
import { connectPeer } from '../../test/helpers/ws-client.js';

const TOKEN = 'paused-api-token';
const TAIPEI = { GEOIP: { CITY: 'Taipei', COUNTRY: 'TW', LOC: '25.03,121.56' } };
/** 1 Jan 2027 00:00 UTC and 07:00 UTC, seconds. */
const NEW_YEAR = 1798761600;
const SEVEN = 1798700000;

const QUOTA_PAUSE = { PAUSED: 'quota', PAUSED_UNTIL: NEW_YEAR, QUOTA_GB: 12, QUOTA_USED_GB: 12, UPLOAD_CAP_MBIT: 0, VIEWER_RATE_MBIT: 0 };
const QUIET_PAUSE = { PAUSED: 'quiet-hours', PAUSED_UNTIL: SEVEN, QUOTA_GB: 0, QUOTA_USED_GB: 1.5, UPLOAD_CAP_MBIT: 8, VIEWER_RATE_MBIT: 0 };

interface Row { ID: string; PAUSED: string | null; PAUSED_UNTIL: number | null; QUOTA_GB: number | null; QUOTA_USED_GB: number | null; UPLOAD_CAP_MBIT: number | null; VIEWER_RATE_MBIT: number | null }

t.test('SEARCH leaves paused boxes out and lists them again once they serve; the API and metrics say why', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startEntrance(t, {
    redisUrl: redis.url,
    env: { ...ORIGINAL_PUBLISHERS, DANDELION_METRICS_PUBLIC: 'true', DANDELION_API_TOKENS: JSON.stringify([await hashPassword(TOKEN)]) },
  });
  const base = url.replace('ws:', 'http:').replace(/\/dandelion\/ws\/$/, '');
  const api = async <T>(path: string): Promise<T> => (await (await fetch(`${base}/api/${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as T;
  const box = await connectPeer(url);
  const publisher = await connectPeer(url);
  t.teardown(() => Promise.all([box.close(), publisher.close()]));
  const listed = async (extra: Record<string, unknown> = {}): Promise<string[]> => Object.keys((await publisher.ask(searchRequest('publisher-p', extra))).BOX_SET as object).sort();

  t.equal((await box.ask(boxExchange('box-original', TAIPEI))).MESSAGE, 'ACCEPTED', 'an original box: no household fields');
  t.equal((await box.ask(boxExchange('box-serving', { ...TAIPEI, PAUSED: '', QUOTA_GB: 50, QUOTA_USED_GB: 3.25, UPLOAD_CAP_MBIT: 10, VIEWER_RATE_MBIT: 7.5 }))).MESSAGE, 'ACCEPTED');
  t.equal((await box.ask(boxExchange('box-quota', { ...TAIPEI, ...QUOTA_PAUSE }))).MESSAGE, 'ACCEPTED');
  t.equal((await box.ask(boxExchange('box-quiet', { ...TAIPEI, ...QUIET_PAUSE }))).MESSAGE, 'ACCEPTED');

  t.same(await listed(), ['box-original', 'box-serving'], 'SEARCH by capacity lists only the boxes that serve');
  t.same(await listed(TAIPEI), ['box-original', 'box-serving'], 'SEARCH by place too');

  const rows = new Map((await api<{ BOXES: Row[] }>('boxes?per_page=100')).BOXES.map((r) => [r.ID, r]));
  t.match(rows.get('box-original'), { PAUSED: null, PAUSED_UNTIL: null, QUOTA_GB: null, UPLOAD_CAP_MBIT: null, VIEWER_RATE_MBIT: null }, 'an original box is serving, nothing else known');
  t.match(rows.get('box-serving'), { PAUSED: null, QUOTA_GB: 50, QUOTA_USED_GB: 3.25, UPLOAD_CAP_MBIT: 10, VIEWER_RATE_MBIT: 7.5 });
  t.match(rows.get('box-quota'), { PAUSED: 'quota', PAUSED_UNTIL: NEW_YEAR, QUOTA_GB: 12, QUOTA_USED_GB: 12 }, '/api/boxes says why and until when');
  t.match(rows.get('box-quiet'), { PAUSED: 'quiet-hours', PAUSED_UNTIL: SEVEN, UPLOAD_CAP_MBIT: 8 });
  const pausedList = await api<{ TOTAL: number; BOXES: Row[] }>('boxes?state=paused');
  t.same(pausedList.BOXES.map((r) => r.ID).sort(), ['box-quiet', 'box-quota'], 'the list filters on paused boxes');
  const sorted = await api<{ BOXES: Row[] }>('boxes?sort=PAUSED&order=asc');
  t.same(sorted.BOXES.slice(0, 2).map((r) => r.PAUSED), ['quiet-hours', 'quota'], 'and sorts by the reason');
  const one = await api<{ BOX: Row; EXCHANGE: Record<string, unknown> }>('boxes/box-quota');
  t.match(one.BOX, { PAUSED: 'quota', QUOTA_GB: 12, QUOTA_USED_GB: 12, VIEWER_RATE_MBIT: 0 }, 'the box page has them');
  t.match(one.EXCHANGE, QUOTA_PAUSE, 'stored with the box\'s exchange');

  // Live events: the dashboard refetches its table when a box is paused or resumed.
  const events = await fetch(`${base}/api/events`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const reader = (events.body as ReadableStream<Uint8Array>).getReader();
  t.teardown(() => reader.cancel());
  const changedIds = async (): Promise<string[]> => {
    let text = '';
    for (;;) {
      text += new TextDecoder().decode((await reader.read()).value);
      const m = /event: boxes\ndata: (\{.*\})\n/.exec(text);
      if (m) return (JSON.parse(m[1] as string) as { CHANGED: string[] }).CHANGED;
    }
  };
  t.same((await changedIds()).sort(), ['box-original', 'box-quiet', 'box-quota', 'box-serving'], 'first: every box is new to the stream');
  t.equal((await box.ask(boxExchange('box-serving', { ...TAIPEI, PAUSED: 'quiet-hours', PAUSED_UNTIL: SEVEN }))).MESSAGE, 'ACCEPTED');
  t.same(await changedIds(), ['box-serving'], 'a box paused: an event names it');
  t.equal((await box.ask(boxExchange('box-serving', { ...TAIPEI, PAUSED: '', QUOTA_GB: 50, QUOTA_USED_GB: 3.25, UPLOAD_CAP_MBIT: 10, VIEWER_RATE_MBIT: 7.5 }))).MESSAGE, 'ACCEPTED');
  t.same(await changedIds(), ['box-serving'], 'resumed: another');
  t.same(await listed(), ['box-original', 'box-serving'], 'and it is listed again');

  const metrics = `${base}/metrics`;
  let m = (await scrape(metrics)).families;
  t.equal(sampleValue(m, 'dandelion_boxes_paused', { reason: 'quota' }), 1, 'metric: paused for the quota');
  t.equal(sampleValue(m, 'dandelion_boxes_paused', { reason: 'quiet-hours' }), 1, 'metric: paused for quiet hours');
  t.equal(sampleValue(m, 'dandelion_boxes_online'), 4, 'paused boxes are still online');

  // A bad value: refused by name, and the box's stored pause is not touched.
  const liar = await connectPeer(url);
  t.match(await liar.ask(boxExchange('box-quota', { ...TAIPEI, PAUSED: 'never' })), { ERROR_CODE: 'E_FORMAT', ERROR: /PAUSED must be one of quota, quiet-hours or ''/ });
  await liar.closed;
  t.match((await api<{ EXCHANGE: Row }>('boxes/box-quota')).EXCHANGE, { PAUSED: 'quota', PAUSED_UNTIL: NEW_YEAR }, 'nothing stored changed');
  t.notOk((await listed()).includes('box-quota'), 'and it is still left out');

  t.equal((await box.ask(boxExchange('box-quota', { ...TAIPEI, ...QUOTA_PAUSE, PAUSED: '', QUOTA_USED_GB: 0, PAUSED_UNTIL: undefined }))).MESSAGE, 'ACCEPTED', 'a new month: serving again');
  t.same(await listed(), ['box-original', 'box-quota', 'box-serving'], 'listed again from that EXCHANGE');
  t.same(await listed(TAIPEI), ['box-original', 'box-quota', 'box-serving'], 'by place too');
  // The dashboard reads summaries through a cache of a second.
  const resumed = await eventually(async () => {
    const { BOX } = await api<{ BOX: Row }>('boxes/box-quota');
    return BOX.PAUSED === null ? BOX : undefined;
  });
  t.match(resumed, { PAUSED: null, PAUSED_UNTIL: null, QUOTA_USED_GB: 0 }, 'the API says serving');
  t.equal((await box.ask(boxExchange('box-quiet', TAIPEI))).MESSAGE, 'ACCEPTED', 'a box that stops sending the fields (an older agent again)');
  t.same(await listed(), ['box-original', 'box-quiet', 'box-quota', 'box-serving'], 'is serving');
  m = (await scrape(metrics)).families;
  t.equal(sampleValue(m, 'dandelion_boxes_paused', { reason: 'quota' }), 0, 'metric: none paused');
  t.equal(sampleValue(m, 'dandelion_boxes_paused', { reason: 'quiet-hours' }), 0);
});

t.test('the dashboard shows which boxes serve and why the others are paused', { timeout: 120_000 }, async (t) => {
  const user = 'ops';
  const password = 'paused boxes are fine';
  const redis = await startRedis(t);
  const { url } = await startEntrance(t, {
    redisUrl: redis.url,
    env: { ...ORIGINAL_PUBLISHERS, DANDELION_DASHBOARD_USERS: JSON.stringify([{ USERNAME: user, PASSWORD_HASH: await hashPassword(password) }]) },
  });
  const http = `http://${new URL(url).host}`;
  const nowS = Math.floor(Date.now() / 1000);
  const quietUntil = nowS + 3 * 3600;
  const quotaUntil = nowS + 10 * 86400;
  const box = await connectPeer(url);
  t.teardown(() => box.close());
  t.equal((await box.ask(boxExchange('box-original'))).MESSAGE, 'ACCEPTED');
  t.equal((await box.ask(boxExchange('box-quota', { ...QUOTA_PAUSE, PAUSED_UNTIL: quotaUntil, QUOTA_USED_GB: 12.004, VIEWER_RATE_MBIT: 0 }))).MESSAGE, 'ACCEPTED');
  t.equal((await box.ask(boxExchange('box-quiet', { ...QUIET_PAUSE, PAUSED_UNTIL: quietUntil }))).MESSAGE, 'ACCEPTED');
  t.equal((await box.ask(boxExchange('box-capped', { PAUSED: '', UPLOAD_CAP_MBIT: 8, QUOTA_GB: 50, QUOTA_USED_GB: 3.25, VIEWER_RATE_MBIT: 6.4 }))).MESSAGE, 'ACCEPTED');

  // The page runs in this machine's time zone, as Node does: the times it should show.
  const time = (s: number): string => new Date(s * 1000).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
  const date = (s: number): string => new Date(s * 1000).toLocaleDateString('en-GB', { day: 'numeric', month: 'short' });

  const browser = await launchBrowser(t);
  const page = await (await browser.newContext({ viewport: { width: 1600, height: 900 } })).newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(`${http}/dashboard/`);
  await page.fill('input[name="username"]', user);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForURL(/\/dashboard\/$/), page.click('form button[type="submit"]')]);
  await page.waitForSelector('#boxes tbody tr[data-id="box-quota"]');
  const cell = (id: string, col: string): Promise<string | null> => page.textContent(`#boxes tbody tr[data-id="${id}"] td[data-col="${col}"]`);

  t.equal(await cell('box-original', 'PAUSED'), 'serving', 'an original box is serving');
  t.equal(await cell('box-capped', 'PAUSED'), 'serving');
  t.equal(await cell('box-quota', 'PAUSED'), `paused: quota (12.00 of 12 GB) until ${date(quotaUntil)} ${time(quotaUntil)}`, 'the quota, how much of it is used, and until when');
  t.equal(await cell('box-quiet', 'PAUSED'), `paused: quiet hours until ${time(quietUntil)}`, 'quiet hours, until a time less than a day away');
  t.equal(await page.locator('#boxes tbody span.badge[data-paused]').count(), 2, 'each paused box has a badge');
  t.equal(await cell('box-capped', 'UPLOAD_CAP_MBIT'), '8.0', 'the cap (Mbit/s below 10 with one decimal, as the other rates)');
  t.equal(await cell('box-quiet', 'UPLOAD_CAP_MBIT'), '8.0');
  t.equal(await cell('box-quota', 'UPLOAD_CAP_MBIT'), 'none', 'no cap');
  t.equal(await cell('box-capped', 'QUOTA_USED_GB'), '3.25 of 50', 'the quota used');
  t.equal(await cell('box-quiet', 'QUOTA_USED_GB'), '1.50 (no quota)');
  t.equal(await cell('box-capped', 'VIEWER_RATE_MBIT'), '6.4', 'the viewer rate');
  t.equal(await cell('box-original', 'QUOTA_USED_GB'), '–', 'nothing known of an original box\'s household');

  const shots = path.resolve('build', 'test-output');
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: path.join(shots, 'dashboard-paused.png') });
  await page.selectOption('#filter-state', 'paused');
  t.ok(await eventually(async () => (await page.locator('#boxes tbody tr[data-id]').count()) === 2), 'the paused filter lists the two');

  await page.goto(`${http}/dashboard/#/box/box-quota`);
  const field = (name: string): Promise<string | null> => page.textContent(`#box-details dd[data-field="${name}"]`, { timeout: 5_000 });
  t.ok(await eventually(async () => (await field('PAUSED').catch(() => null))?.startsWith('paused: quota')), 'the box page says why it is paused');
  t.equal(await field('UPLOAD_CAP_MBIT'), 'none', 'and shows the cap');
  t.equal(await field('QUOTA_USED_GB'), '12.00 of 12', 'the quota');
  t.equal(await field('VIEWER_RATE_MBIT'), '0.0', 'and the viewer rate');
  await page.screenshot({ path: path.join(shots, 'dashboard-paused-box.png'), fullPage: true });
  t.same(pageErrors, [], 'no script errors');
});

t.test('a paused box that goes silent stops counting as paused and the sweep forgets its pause', async (t) => {
  const redis = await startRedis(t);
  let now = 1_800_000_000_000;
  const { url, id, entrance } = await startEntrance(t, {
    redisUrl: redis.url,
    now: () => now,
    env: { ...ORIGINAL_PUBLISHERS, DANDELION_METRICS_PUBLIC: 'true', DANDELION_ENTRANCE_EXPIRE_BOX_TIME: '60', DANDELION_ENTRANCE_SWEEP_FREQ: '60' },
  });
  const box = await connectPeer(url);
  t.teardown(() => box.close());
  t.equal((await box.ask(boxExchange('box-gone', { ...TAIPEI, ...QUIET_PAUSE }))).MESSAGE, 'ACCEPTED');
  t.equal((await box.ask(boxExchange('box-here', { ...TAIPEI, ...QUOTA_PAUSE }))).MESSAGE, 'ACCEPTED');
  const r = redis.client();
  t.equal(await r.zscore(`${id}:BOX_GEO`, 'box-gone'), null, 'a paused box is not in the place index');
  t.equal(await r.zscore(`${id}:BOX_CAPACITY`, 'box-gone'), null, 'nor in the capacity index');
  const metrics = `${url.replace('ws:', 'http:').replace(/\/dandelion\/ws\/$/, '')}/metrics`;
  t.equal(sampleValue((await scrape(metrics)).families, 'dandelion_boxes_paused', { reason: 'quiet-hours' }), 1);

  now += 40_000;
  t.equal((await box.ask(boxExchange('box-here', { ...TAIPEI, ...QUOTA_PAUSE }))).MESSAGE, 'ACCEPTED');
  now += 30_000; // box-gone silent for 70 s > 60 s
  const m = (await scrape(metrics)).families;
  t.equal(sampleValue(m, 'dandelion_boxes_paused', { reason: 'quiet-hours' }), 0, 'an expired box is not counted, even before the sweep');
  t.equal(sampleValue(m, 'dandelion_boxes_paused', { reason: 'quota' }), 1, 'a live one is');
  await entrance.tick();
  t.equal(await r.zscore(`${id}:BOX_PAUSED:quiet-hours`, 'box-gone'), null, 'the sweep removes its pause with it');
  t.equal(await r.exists(`${id}:EXCHANGE:box-gone`), 0, 'and its exchange');
  t.ok(await r.zscore(`${id}:BOX_PAUSED:quota`, 'box-here'), 'a live paused box keeps its');
});
