// The household's settings stop serving and start it again, with the box's real nginx: a used-up monthly
// quota (503 with Retry-After until the next month, counted across a restart; the next month serves
// again), quiet hours (inside 503, outside 200), and the upload cap (4 parallel downloads together
// within ±15 % of UPLOAD_CAP_MBIT), and a real entrance records the pause. The clock is injected; nginx,
// the access log and its tail are real.
import http from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { startRedis } from '../../../test/helpers/redis.js';
import { startEntrance } from '../../../test/helpers/entrance.js';
import { ORIGINAL_PUBLISHERS } from '../../../test/helpers/messages.js';
import { eventually, startAgent } from '../../../test/helpers/agent.js';
import type { RunningAgent } from '../../../test/helpers/agent.js';

/** No entrance answers here: these tests are about the box alone. */
const NO_ENTRANCE = ['ws://127.0.0.1:9/dandelion/ws/'];
/** No interface counters: the viewer budget stays at VIEWER_SHARE × BANDWIDTH_UP, whatever else this machine sends. */
const NO_COUNTERS = { sample: async () => ({}) };
const at = (year: number, month: number, day: number, hh: number, mm = 0): number => new Date(year, month, day, hh, mm).getTime();

const redis = await startRedis(t);

function putFile(box: RunningAgent, relative: string, bytes: number): void {
  const file = path.join(box.baseDirectory, relative);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, Buffer.alloc(bytes, 7));
}

async function get(box: RunningAgent, uri: string): Promise<{ status: number; retryAfter: string | null; body: string }> {
  const res = await fetch(`${box.httpBase}${uri}`);
  const body = await res.text();
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body };
}

/** For eventually(): a reload's old worker may close a kept-alive connection under a request, which then asks again. */
const statusIs = (box: RunningAgent, uri: string, status: number) => async () => (await get(box, uri).catch(() => undefined))?.status === status;

t.test('quota: used up → 503 until the next month, across a restart; the next month serves again', async (t) => {
  let now = at(2026, 11, 5, 12);
  const runDirectory = path.join(mkdtempSync(path.join(os.tmpdir(), 'dandelion-quota-')), 'run');
  // 100 kB: one 120 kB segment uses it up, while the 503s of a test's polling (about 300 bytes each, every
  // 50 ms) would take longer than its 15 s wait to, however slowly nginx reloads on a loaded machine.
  const env = { DANDELION_UPLOAD_QUOTA_GB: '0.0001' };
  const start = () => startAgent(t, { redisUrl: redis.url, entranceUrls: NO_ENTRANCE, runDirectory, env, readings: NO_COUNTERS, now: () => now });
  let box = await start();
  putFile(box, 'publisher-q/seg-1.ts', 120_000);
  const servedAt = Date.now();
  t.equal((await get(box, '/publisher-q/seg-1.ts')).status, 200, 'served while under the quota');
  t.ok(await eventually(statusIs(box, '/publisher-q/seg-1.ts', 503)), 'the 120 kB served use the quota up: 503');
  t.comment(`quota: the first 503 came ${Date.now() - servedAt} ms after the response that used it up (access-log tail, then nginx reload)`);
  const refused = await get(box, '/publisher-q/seg-1.ts');
  const toNewYear = (at(2027, 0, 1, 0) - now) / 1000;
  t.ok(Math.abs(Number(refused.retryAfter) - toNewYear) < 120, `Retry-After ${refused.retryAfter} s ≈ ${toNewYear} s to the next month`);
  t.match(refused.body, /monthly upload quota is used up until 2027-01-01 00:00/);
  const exchange = await box.agent.buildExchange();
  t.match(exchange, { PAUSED: 'quota', PAUSED_UNTIL: at(2027, 0, 1, 0) / 1000, QUOTA_GB: 0.0001, UPLOAD_CAP_MBIT: 0 }, 'the entrance hears why');
  t.ok(Number(exchange.QUOTA_USED_GB) >= 0, 'and how much is used');
  const page = await get(box, '/status/status.json');
  t.match(JSON.parse(page.body), { HOUSEHOLD: { PAUSED: 'quota', UPLOAD_QUOTA_GB: 0.0001, PAUSED_UNTIL: '2027-01-01 00:00' }, SERVING: 'paused' }, 'the LAN status page shows it');
  t.equal((await get(box, '/status/household')).status, 200, 'status and the settings stay served');
  const forStrangers = JSON.parse(readFileSync(path.join(runDirectory, 'status/public/status.json'), 'utf8'));
  t.equal(forStrangers.SERVING, 'paused', 'the public copy says paused');
  t.notOk('HOUSEHOLD' in forStrangers, 'and nothing of the quota');

  await box.stop();
  box = await start();
  putFile(box, 'publisher-q/seg-1.ts', 120_000);
  t.equal((await get(box, '/publisher-q/seg-1.ts')).status, 503, 'still paused after a restart: the month\'s count was kept');

  now = at(2027, 0, 1, 0, 1);
  box.agent.household.evaluate();
  // Before the GET below: its 120 kB use the tiny quota up again.
  t.match(await box.agent.buildExchange(), { PAUSED: '', QUOTA_USED_GB: 0 }, 'a new month, counted from 0');
  t.ok(await eventually(statusIs(box, '/publisher-q/seg-1.ts', 200)), 'the next month: served again');
});

t.test('quiet hours: inside 503, outside 200', async (t) => {
  let now = at(2026, 11, 5, 12);
  const box = await startAgent(t, { redisUrl: redis.url, entranceUrls: NO_ENTRANCE, env: { DANDELION_QUIET_HOURS: '23:00-07:00' }, readings: NO_COUNTERS, now: () => now });
  putFile(box, 'publisher-h/seg-1.ts', 1000);
  t.equal((await get(box, '/publisher-h/seg-1.ts')).status, 200, 'noon: served');
  now = at(2026, 11, 5, 23, 30);
  const quietAt = Date.now();
  box.agent.household.evaluate();
  t.ok(await eventually(statusIs(box, '/publisher-h/seg-1.ts', 503)), '23:30: 503');
  t.comment(`quiet hours: 503 ${Date.now() - quietAt} ms after the pause was decided (on a real clock the check runs at the start of each minute)`);
  const refused = await get(box, '/publisher-h/seg-1.ts');
  t.ok(Math.abs(Number(refused.retryAfter) - 7.5 * 3600) < 120, `Retry-After ${refused.retryAfter} s ≈ 7.5 h`);
  t.match(refused.body, /quiet hours until 2026-12-06 07:00/);
  t.match(await box.agent.buildExchange(), { PAUSED: 'quiet-hours', PAUSED_UNTIL: at(2026, 11, 6, 7) / 1000 });
  now = at(2026, 11, 6, 7);
  box.agent.household.evaluate();
  t.ok(await eventually(statusIs(box, '/publisher-h/seg-1.ts', 200)), '07:00: served again');
});

/** Downloads `uri` on each of the agent's sockets at once; the whole transfer's rate in Mbit/s. */
async function parallelDownloads(box: RunningAgent, uri: string, connections: number, warm = true): Promise<{ mbit: number; bytes: number }> {
  const agent = new http.Agent({ keepAlive: warm, maxSockets: connections });
  const fetchOnce = (target: string): Promise<number> => new Promise((resolve, reject) => {
    http.get(`${box.httpBase}${target}`, { agent }, (res) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => (bytes += d.length));
      res.on('end', () => resolve(bytes));
    }).on('error', reject);
  });
  // Every connection open first, so each download starts with all of them counted ($connections_active).
  if (warm) await Promise.all(Array.from({ length: connections }, () => fetchOnce('/publisher-c/small.ts')));
  const t0 = process.hrtime.bigint();
  const sizes = await Promise.all(Array.from({ length: connections }, () => fetchOnce(uri)));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  agent.destroy();
  const bytes = sizes.reduce((a, b) => a + b, 0);
  return { mbit: (bytes * 8) / seconds / 1e6, bytes };
}

t.test('upload cap: 4 parallel downloads together within ±15 % of UPLOAD_CAP_MBIT', async (t) => {
  const capMbit = 8;
  const box = await startAgent(t, { redisUrl: redis.url, entranceUrls: NO_ENTRANCE, env: { DANDELION_UPLOAD_CAP_MBIT: String(capMbit) }, readings: NO_COUNTERS });
  putFile(box, 'publisher-c/big.ts', 1_500_000);
  putFile(box, 'publisher-c/small.ts', 100);
  t.equal(box.agent.status().viewerBudgetMbit, 80, 'the budget alone would allow 80 Mbit/s');
  const { mbit, bytes } = await parallelDownloads(box, '/publisher-c/big.ts', 4);
  t.equal(bytes, 6_000_000, 'every byte arrived');
  const accuracy = mbit / capMbit;
  t.comment(`cap ${capMbit} Mbit/s: 4 downloads together ${mbit.toFixed(2)} Mbit/s (${(accuracy * 100).toFixed(1)} % of the cap)`);
  t.ok(accuracy > 0.85 && accuracy < 1.15, `aggregate ${mbit.toFixed(2)} Mbit/s within ±15 % of ${capMbit}`);
  // nginx paces each response by the connections open when it starts: downloads whose connections open
  // one after another may take up to 1 + 1/2 + 1/3 + 1/4 ≈ 2.08 × the cap between them (HOUSEHOLD_YIELD's tc class bounds the sum).
  const cold = await parallelDownloads(box, '/publisher-c/big.ts', 4, false);
  t.comment(`cap ${capMbit} Mbit/s: 4 downloads on fresh connections together ${cold.mbit.toFixed(2)} Mbit/s (${((cold.mbit / capMbit) * 100).toFixed(1)} % of the cap)`);
  t.ok(cold.mbit < capMbit * 2.2, 'fresh connections stay within the per-connection pacing\'s bound');
});

t.test('the entrance hears at once: paused for quiet hours, then serving again', async (t) => {
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: { ...ORIGINAL_PUBLISHERS, DANDELION_REQUIRE_REACHABLE: 'false' } });
  let now = at(2026, 11, 5, 23, 30);
  const box = await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url], env: { DANDELION_QUIET_HOURS: '23:00-07:00' }, readings: NO_COUNTERS, now: () => now });
  const r = redis.client();
  const pausedScore = () => r.zscore(`${entrance.id}:BOX_PAUSED:quiet-hours`, box.boxId);
  t.ok(await eventually(pausedScore), 'the entrance records the box as paused for quiet hours');
  now = at(2026, 11, 6, 7, 1);
  box.agent.household.evaluate();
  t.ok(await eventually(async () => (await pausedScore()) === null), 'and as serving from the next EXCHANGE');
});
