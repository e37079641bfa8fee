// The operators' dashboard end to end, with real parts only: Redis, an entrance with one operator,
// two box agents with their nginx (placed in Taipei and Lisbon by their GEOIP config), and headless
// Chromium on /dashboard/. Each sub-test below says what it proves; they run in order on one page.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import type { Page } from 'playwright-core';
import { hashPassword } from '../../shared/src/password.js';
import { trafficTotals } from '../../entrance/src/traffic/read.js';
import { startRedis } from '../helpers/redis.js';
import { REAL_BOXES, startEntrance } from '../helpers/entrance.js';
import { EnrolmentStore } from '../../entrance/src/enrolment/store.js';
import { eventually, startAgent } from '../helpers/agent.js';
import { launchBrowser } from '../helpers/browser.js';
import { ORIGINAL_PUBLISHERS, searchRequest } from '../helpers/messages.js';
import { connectPeer } from '../helpers/ws-client.js';

const USER = 'ops';
const PASSWORD = 'correct horse battery staple';
const PUBLISHER = 'publisher-dash';
/** Seconds without an EXCHANGE before the dashboard calls a box stale. */
const STALE_S = 2;
const TAIPEI = { CITY: 'Taipei', COUNTRY: 'TW', LOC: '25.03,121.56' };
const LISBON = { CITY: 'Lisbon', COUNTRY: 'PT', LOC: '38.72,-9.14' };

interface ChartData { src: string | null; points: unknown }

/** A chart's drawn numbers and the API URL they came from, read in one go. */
function chartOf(page: Page, selector: string): Promise<ChartData> {
  return page.evaluate((sel) => {
    const svg = document.querySelector(sel);
    return { src: svg?.getAttribute('data-src') ?? null, points: JSON.parse(svg?.getAttribute('data-points') ?? 'null') as unknown };
  }, selector);
}

/** GET from inside the page, so the browser's session cookie goes along. */
function fetchInPage(page: Page, url: string): Promise<{ status: number; body: unknown }> {
  return page.evaluate(async (u) => {
    const res = await fetch(u, { credentials: 'same-origin' });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* intentional: not JSON (an HTML page); the text is kept */
    }
    return { status: res.status, body };
  }, url);
}

const sum = (xs: unknown): number => (Array.isArray(xs) ? xs.reduce((a: number, x) => a + (typeof x === 'number' ? x : 0), 0) : NaN);

t.test('dashboard: login, fleet, map, live state, traffic chart, box page, logout', { timeout: 180_000 }, async (t) => {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, {
    redisUrl: redis.url,
    env: {
      DANDELION_DASHBOARD_USERS: JSON.stringify([{ USERNAME: USER, PASSWORD_HASH: await hashPassword(PASSWORD) }]),
      DANDELION_BOX_STALE_TIME: String(STALE_S),
      DANDELION_REQUIRE_ENROLMENT: 'true',
      // Its publisher is an original client (no account) that searches without credentials.
      ...ORIGINAL_PUBLISHERS,
      ...REAL_BOXES,
    },
  });
  const http = `http://${new URL(entrance.url).host}`;
  // The boxes enrol as real ones do, with a fleet token an operator made.
  const enrolmentRedis = redis.client();
  const { token } = await new EnrolmentStore(enrolmentRedis).createToken({ expiresInSeconds: 3600, maxUses: 2, note: 'e2e' });
  const taipei = await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url], boxId: 'box-dash-taipei', env: { DANDELION_GEOIP: JSON.stringify(TAIPEI), DANDELION_ENROLMENT_TOKEN: token } });
  const lisbon = await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url], boxId: 'box-dash-lisbon', env: { DANDELION_GEOIP: JSON.stringify(LISBON), DANDELION_ENROLMENT_TOKEN: token } });

  // The entrance counts traffic only for publishers it knows: this one searched there.
  const publisher = await connectPeer(entrance.url);
  t.equal((await publisher.ask(searchRequest(PUBLISHER))).COMMAND, 'SEARCH');
  await publisher.close();

  // Viewer traffic on the Taipei box: files in a publisher's folder, fetched from its nginx. The
  // agent reads nginx's log and reports the bytes to the entrance, which counts them per minute.
  const folder = path.join(taipei.baseDirectory, PUBLISHER);
  mkdirSync(folder, { recursive: true });
  for (let i = 0; i < 3; i++) writeFileSync(path.join(folder, `seg-${i}.ts`), Buffer.alloc(50_000 + i * 10_000, i));
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${taipei.httpBase}/${PUBLISHER}/seg-${i}.ts`);
      t.equal(res.status, 200, `a viewer got seg-${i}.ts from the Taipei box`);
      await res.arrayBuffer();
    }
  }
  const r = redis.client();
  t.ok(await eventually(async () => (await trafficTotals(r)).bytes >= 6 * 50_000, 20_000, 100), 'the entrance counted the viewers\' bytes');

  const browser = await launchBrowser(t);
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  // The dashboard's Content-Security-Policy refuses inline script and style: a violation does not throw,
  // it only logs, and the part of the page it hit silently stays empty. Collect them.
  const cspViolations: string[] = [];
  page.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) cspViolations.push(msg.text());
  });
  const shots = path.resolve('build', 'test-output');
  mkdirSync(shots, { recursive: true });

  await t.test('login guards the page', async (t) => {
    // Without a session /dashboard/ is the login form; a wrong password is refused (back to the form
    // with ?error=1 and no session); the right one opens the dashboard with its CSRF token in <head>.
    await page.goto(`${http}/dashboard/`);
    t.ok(await page.isVisible('form input[name="password"]'), 'the login form appears');
    t.equal(await page.locator('#boxes').count(), 0, 'no dashboard before logging in');

    await page.fill('input[name="username"]', USER);
    await page.fill('input[name="password"]', 'not the password');
    await Promise.all([page.waitForURL(/\/dashboard\/\?error=1$/), page.click('form button[type="submit"]')]);
    t.ok(await page.isVisible('form input[name="password"]'), 'a wrong password gets the login form back');
    t.equal((await fetchInPage(page, '/api/session')).status, 401, 'and no session');

    await page.fill('input[name="username"]', USER);
    await page.fill('input[name="password"]', PASSWORD);
    await Promise.all([page.waitForURL(/\/dashboard\/$/), page.click('form button[type="submit"]')]);
    await page.waitForSelector('#boxes');
    const session = (await fetchInPage(page, '/api/session')) as { status: number; body: { USERNAME: string; CSRF: string } };
    t.equal(session.status, 200, 'the right password logs in');
    t.equal(session.body.USERNAME, USER);
    t.equal(await page.getAttribute('meta[name="csrf-token"]', 'content'), session.body.CSRF, 'the page carries the session\'s CSRF token');
    t.equal(await page.inputValue('#logout-form input[name="csrf"]'), session.body.CSRF, 'and the logout form sends it');
    t.ok(await eventually(() => page.textContent('#user-name').then((s) => s === USER)), 'the header names the operator');
  });

  await t.test('both boxes in the table and on the map', async (t) => {
    // The fleet table (from /api/boxes) lists both boxes online with their places; the map draws the
    // country outlines from the npm-shipped TopoJSON and one dot per box, coloured by state, at its LOC.
    for (const box of [taipei, lisbon]) {
      const row = `#boxes tbody tr[data-id="${box.boxId}"]`;
      t.ok(await eventually(() => page.getAttribute(row, 'data-state', { timeout: 1_000 }).then((s) => s === 'online', () => false), 15_000, 200), `${box.boxId} is listed online`);
      t.ok(await eventually(() => page.locator(`#map-dots circle[data-id="${box.boxId}"].state-online`).count().then((n) => n === 1), 15_000, 200), `${box.boxId} is an online dot on the map`);
    }
    t.equal(await page.textContent(`#boxes tbody tr[data-id="${taipei.boxId}"] td[data-col="CITY"]`), 'Taipei');
    t.equal(await page.textContent(`#boxes tbody tr[data-id="${lisbon.boxId}"] td[data-col="COUNTRY"]`), 'PT');
    t.match(await page.textContent(`#boxes tbody tr[data-id="${taipei.boxId}"] td[data-col="AGE"]`), /^\d+ s ago$/, 'ages read as "N s ago"');
    t.ok(Number(await page.getAttribute('#map', 'data-countries')) > 100, 'country outlines are drawn');
    // Taipei is east of Lisbon and south of it: x grows eastwards, y southwards.
    const [tx, ty, lx, ly] = await page.evaluate(([a, b]) => {
      const c = (id: string) => document.querySelector(`#map-dots circle[data-id="${id}"]`) as SVGCircleElement;
      return [c(a).cx.baseVal.value, c(a).cy.baseVal.value, c(b).cx.baseVal.value, c(b).cy.baseVal.value];
    }, [taipei.boxId, lisbon.boxId] as const);
    t.ok((tx as number) > (lx as number) && (ty as number) > (ly as number), 'dots sit at their boxes\' places');
    t.match(await page.textContent(`#map-dots circle[data-id="${taipei.boxId}"] title`), /Taipei/, 'hovering a dot names its box and city');

    // Sorting and filtering happen on the server: the table shows what /api/boxes answers.
    await page.click('#boxes-head button[data-sort="ID"]');
    t.ok(await eventually(async () => (await page.getAttribute('#boxes-head th:first-child', 'aria-sort')) === 'descending'), 'clicking a heading sorts the other way');
    t.ok(await eventually(async () => (await page.getAttribute('#boxes tbody tr:first-child', 'data-id')) === taipei.boxId), 'taipei sorts before lisbon descending');
    await page.fill('#filter-q', 'lisbon');
    t.ok(await eventually(async () => (await page.locator('#boxes tbody tr[data-id]').count()) === 1 && (await page.getAttribute('#boxes tbody tr', 'data-id')) === lisbon.boxId), 'the search box filters by city');
    await page.fill('#filter-q', '');
    t.ok(await eventually(async () => (await page.locator('#boxes tbody tr[data-id]').count()) === 2), 'clearing it shows both again');
    t.match(await page.textContent('#page-info'), /page 1 of 1/);
  });

  await t.test('a stopped box turns stale without reloading the page', async (t) => {
    // The agent stops heartbeating; after BOX_STALE_TIME the entrance's event stream announces the
    // change (event: boxes) and the page refetches its table and map by itself: same document, no reload.
    await page.evaluate(() => {
      (window as unknown as { sameDocument: boolean }).sameDocument = true;
    });
    const eventsBefore = await page.evaluate(() => (window as unknown as { dandelion: { events: unknown[] } }).dandelion.events.length);
    await lisbon.stop();
    const row = `#boxes tbody tr[data-id="${lisbon.boxId}"]`;
    t.ok(await eventually(() => page.getAttribute(row, 'data-state').then((s) => s === 'stale'), STALE_S * 1000 + 15_000, 200), 'the Lisbon box shows stale in the table');
    t.equal(await page.textContent(`${row} td[data-col="STATE"]`), 'stale', 'its badge says so');
    t.ok(await eventually(() => page.locator(`#map-dots circle[data-id="${lisbon.boxId}"].state-stale`).count().then((n) => n === 1)), 'and its dot turned stale');
    t.equal(await page.getAttribute(`#boxes tbody tr[data-id="${taipei.boxId}"]`, 'data-state'), 'online', 'the Taipei box is still online');
    t.equal(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument), true, 'the page was not reloaded');
    const events = (await page.evaluate((n) => (window as unknown as { dandelion: { events: Array<{ type: string; data: { CHANGED?: string[] } | null }> } }).dandelion.events.slice(n), eventsBefore));
    t.ok(events.some((e) => e.type === 'boxes' && e.data?.CHANGED?.includes(lisbon.boxId)), 'the event stream said the Lisbon box changed');
    t.ok(await eventually(() => page.textContent('[data-summary="STALE"]').then((s) => s === '1')), 'the header counts one stale box');
    t.equal(await page.textContent('[data-summary="ONLINE"]'), '1', 'and one online');
    await page.screenshot({ path: path.join(shots, 'dashboard-fleet.png') });
  });

  await t.test('the traffic chart draws exactly what /api/traffic says', async (t) => {
    // The fleet chart's data-points are the bytes per minute it drew; fetched again from the page (same
    // session), its data-src gives the same numbers, and over the last hour they add up to every byte
    // the entrance counted.
    const total = (await trafficTotals(r)).bytes;
    let last: { chart: ChartData; api: unknown } | undefined;
    const same = await eventually(async () => {
      const chart = await chartOf(page, '#traffic-chart');
      if (!chart.src) return false;
      const api = await fetchInPage(page, chart.src);
      const bytes = Array.isArray((api.body as { POINTS?: unknown }).POINTS) ? (api.body as { POINTS: Array<{ bytes: number }> }).POINTS.map((p) => p.bytes) : null;
      last = { chart, api: bytes };
      return sum(chart.points) === total && JSON.stringify(bytes) === JSON.stringify(chart.points);
    }, 20_000, 250);
    t.ok(same, `the chart's points match /api/traffic (${last?.chart.src})`);
    t.same(last?.chart.points, last?.api, 'same numbers, bucket by bucket');
    t.equal(sum(last?.chart.points), total, `they add up to the ${total} bytes the entrance counted`);
    t.ok(Array.isArray(last?.chart.points) && (last?.chart.points as unknown[]).length >= 60, 'one bar a minute over the last hour');
    t.equal(await page.locator('#traffic-chart rect.bar').count() > 0, true, 'bars are drawn');
  });

  await t.test('the box page', async (t) => {
    // Clicking a box opens #/box/<id> in the same page: its details, latest exchange, the publishers
    // it served, history charts and its own traffic chart, whose numbers match /api/traffic?scope=box.
    await page.click(`#boxes tbody tr[data-id="${taipei.boxId}"] td[data-col="ID"] a`);
    await page.waitForURL(new RegExp(`#/box/${taipei.boxId}$`));
    t.ok(await eventually(() => page.textContent('#box-details dd[data-field="CITY"]', { timeout: 1_000 }).then((s) => s === 'Taipei', () => false)), 'details show the box\'s city');
    t.match(await page.textContent('#box-title'), /online/, 'and its state');
    t.ok(await eventually(() => page.locator('#box-exchange [data-field="GEOIP"]').count().then((n) => n === 1)), 'its latest exchange is listed');
    t.ok(await eventually(() => page.textContent('#box-publishers').then((s) => (s ?? '').includes(PUBLISHER))), 'with the publisher it served');
    t.ok(await eventually(() => page.locator('#history-CPU').count().then((n) => n === 1)), 'a CPU history chart is drawn');
    t.ok(await page.locator('#history-BANDWIDTH_IDLE_UP').count(), 'and an idle upload one');
    // A new reading may land between the page's fetch and ours: compare until a pair agrees.
    let memory: ChartData | undefined;
    let fromApi: unknown;
    const agreed = await eventually(async () => {
      memory = await chartOf(page, '#history-MEM_USED_PCT');
      if (!memory.src) return false;
      const history = await fetchInPage(page, memory.src);
      fromApi = (history.body as { POINTS: Array<{ MEM_USED_PCT: number | null }> }).POINTS.map((p) => p.MEM_USED_PCT);
      return JSON.stringify(fromApi) === JSON.stringify(memory.points);
    }, 15_000, 250);
    t.ok(agreed, 'the memory chart draws what /api/boxes/<id>/history says');
    t.same(memory?.points, fromApi);
    t.ok(sum(memory?.points) > 0, 'and the box has reported its memory');
    const boxTotal = (await trafficTotals(r, { box: taipei.boxId })).bytes;
    const chart = (await eventually(async () => {
      const c = await chartOf(page, '#box-traffic-chart');
      return c.src && sum(c.points) === boxTotal ? c : undefined;
    })) as ChartData | undefined;
    t.ok(chart, 'the box\'s traffic chart shows all it served');
    if (chart?.src) {
      t.match(chart.src, /scope=box/);
      const api = await fetchInPage(page, chart.src);
      t.same((api.body as { POINTS: Array<{ bytes: number }> }).POINTS.map((p) => p.bytes), chart.points, 'the same numbers as /api/traffic?scope=box');
    }
    const ranges = (selector: string) => page.$$eval(`${selector} option`, (options) => options.map((o) => (o as HTMLOptionElement).value));
    t.same(await ranges('#box-traffic-range'), ['hour', 'day', 'month'], 'the box chart offers an hour, a day and 30 days');
    t.same(await ranges('#traffic-range'), await ranges('#box-traffic-range'), 'the same ranges as the fleet chart');
    await page.selectOption('#box-traffic-range', 'day');
    t.ok(await eventually(() => chartOf(page, '#box-traffic-chart').then((c) => /resolution=hour/.test(c.src ?? ''))), 'choosing "last day" redraws the box chart per hour');
    await page.screenshot({ path: path.join(shots, 'dashboard-box.png'), fullPage: true });
    await page.click('a.back');
    await page.waitForSelector('#fleet-view:not([hidden])');
  });

  await t.test('enrolment panel: boxes, a new token, a revocation', async (t) => {
    for (const box of [taipei, lisbon]) {
      t.ok(await eventually(() => page.locator(`#enrolled-boxes tr[data-id="${box.boxId}"][data-state="enrolled"]`).count().then((n) => n === 1), 15_000, 200), `${box.boxId} listed as enrolled`);
    }
    t.match(await page.textContent('#fleet-tokens tbody'), /2 \/ 2/, 'the token shows both uses taken');
    await page.fill('#token-uses', '5');
    await page.fill('#token-note', 'from the browser');
    await page.click('#token-create');
    await page.waitForSelector('#new-token:not([hidden])');
    t.match(await page.textContent('#new-token-value'), /^dlt_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/, 'the new token is shown once');
    t.ok(await eventually(() => page.locator('#fleet-tokens tbody tr', { hasText: 'from the browser' }).count().then((n) => n === 1)), 'and listed');
    page.once('dialog', (d) => void d.accept());
    await page.click(`#enrolled-boxes tr[data-id="${lisbon.boxId}"] button[data-action$="/revoke"]`);
    t.ok(await eventually(() => page.locator(`#enrolled-boxes tr[data-id="${lisbon.boxId}"][data-state="revoked"]`).count().then((n) => n === 1)), 'Revoke turns the box revoked');
    t.ok(await eventually(async () => (await r.zscore(`${entrance.id}:BOX_SET`, lisbon.boxId)) === null), 'and drops it from the registry');
    await page.screenshot({ path: path.join(shots, 'dashboard-enrolment.png'), fullPage: true });
  });

  await t.test('logging out ends the session', async (t) => {
    // The logout button posts the CSRF token; the entrance deletes the session: the login form is back,
    // /api/boxes answers 401 in the browser, and the old session cookie no longer opens the API.
    const cookie = (await context.cookies()).find((c) => c.name === 'dandelion_session');
    t.ok(cookie, 'the browser held a session cookie');
    t.equal((await fetch(`${http}/api/boxes`, { headers: { cookie: `dandelion_session=${cookie?.value}` } })).status, 200, 'which opened the API');
    await Promise.all([page.waitForURL(/\/dashboard\/$/), page.click('#logout-form button[type="submit"]')]);
    await page.waitForSelector('form input[name="password"]');
    t.pass('the login form is back');
    const inPage = await fetchInPage(page, '/api/boxes');
    t.equal(inPage.status, 401, '/api/boxes is 401 in the browser');
    t.type((inPage.body as { ERROR?: unknown }).ERROR, 'string', 'with an ERROR message');
    const res = await fetch(`${http}/api/boxes`, { headers: { cookie: `dandelion_session=${cookie?.value}` } });
    t.equal(res.status, 401, 'the old session cookie is refused');
    t.equal((await fetch(`${http}/api/boxes`)).status, 401, 'as is no cookie at all');
  });

  t.same(pageErrors, [], 'no script errors on the page');
  t.same(cspViolations, [], 'nothing the page does breaks its Content-Security-Policy');
  // And the policy is in force: a script injected inline does not run (and is reported as a violation).
  const injectedRan = await page.evaluate(() => {
    const el = document.createElement('script');
    el.textContent = 'window.injectedRan = true';
    document.head.append(el);
    return (window as unknown as { injectedRan?: boolean }).injectedRan === true;
  });
  t.equal(injectedRan, false, 'an injected inline script does not run');
  t.ok(await eventually(() => cspViolations.length > 0, 5_000), 'the browser reports it as a policy violation');
  t.same(await page.evaluate(() => (window as unknown as { dandelion?: { errors: string[] } }).dandelion?.errors ?? []), [], 'nor API errors reported by the page');
});
