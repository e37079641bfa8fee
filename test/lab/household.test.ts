// The household comes first, measured: a home whose router shapes the upload to 20 Mbit/s over a deep
// FIFO (and the download to 100 Mbit/s), a box (bin/dandelion agent, its capacity measured against an
// entrance in the internet) and a household computer on the same LAN. The household uploads in bulk
// (iperf3) and keeps an interactive flow (a UDP request every 100 ms, like a call's control traffic);
// viewers in the internet pull 1 MiB files from the box through its mapped port as hard as they can.
// Measured with the box idle, then serving, once per HOUSEHOLD_YIELD mode: off (the viewer budget from
// the box's own interface counters, today's design: the "before") and auto (the delay-based controller:
// the "after"). The five figures and their goals go to build/test-output/household-figures.{json,txt}.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { startRedis } from '../helpers/redis.js';
import { binSeries, figureRows, rateMbit, RECLAIM_THRESHOLD, renderTable, rttFigure, timeUntil, YIELD_THRESHOLD, type FigureRow, type IdleBaseline, type ServingRun } from './household-figures.js';
import { bulkUpload, startHouseholdServers, startInteractiveFlow, startViewers, type InteractiveFlow } from './household.js';
import { startLab, type Home, type Lab } from './lab.js';
import { startRole, until, waitForHttp } from './roles.js';
import { shapeHome, uplinkCounters, type LineShape } from './shaping.js';

const SHAPE: LineShape = { upMbit: 20, downMbit: 100, fifoPackets: 1000 };
const VIEWER_SHARE = 0.8;
const PUBLISHER_DIR = 'publisher-lab';
const FILES = 16;
const FILE_BYTES = 1024 * 1024;
const VIEWER_CONNECTIONS = 6;
const ENTRANCE_PORT = 7071;
const IPERF_PORT = 5201;
const ECHO_PORT = 7000;
const BOX_PORT = 7071;
const BOX_HTTP_PORT = 7072;
/** Each scenario's length: long enough for TCP to settle at 20 Mbit/s, short enough for ≤ 4 min in all. */
const BULK_S = 10;
const INTERACTIVE_ONLY_MS = 5_000;
/**
 * Viewers pull until their rate over a second reaches this share of VIEWER_SHARE × capacity (or for
 * SETTLE_MAX_MS), then their steady rate is taken: the box's budget settles after its start (nginx is
 * reloaded at most every 30 s; responses begun under the old budget keep it to their end).
 */
const SETTLED_SHARE = 0.7;
const SETTLE_MAX_MS = 60_000;
/** After that, the last responses begun under a lower budget end (1 MiB at a few Mbit/s: seconds) before the steady rate is taken. */
const AFTER_SETTLE_MS = 8_000;
const STEADY_MS = 5_000;
const RECLAIM_WATCH_MS = 5_000;
/** What the helpers below need of a tap test. */
interface TestLike {
  teardown(fn: () => unknown): void;
  comment(...args: unknown[]): void;
  ok(ok: boolean, message: string): void;
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('the household comes first: its upload, its interactive RTT, the box\'s idle bandwidth, yield and reclaim, capacity', { timeout: 300_000 }, async (t) => {
  const loadAtStart = os.loadavg();
  const lab = await startLab({ homes: [{ kind: 'nat-pmp', household: true }] });
  t.teardown(() => lab.stop());
  const home = lab.homes[0];
  const household = home?.household;
  if (!home || !household) throw new Error('a home with a household expected');
  await shapeHome(home, SHAPE);
  const ip = lab.internetIp;
  await startHouseholdServers(lab, { ip, iperfPort: IPERF_PORT, echoPort: ECHO_PORT });
  const flow = startInteractiveFlow(lab, household, { ip, port: ECHO_PORT });
  t.teardown(() => flow.stop());

  const idle = await householdAlone(t, lab, home, flow);
  const entrance = await startEntrance(t, lab);
  const boxDir = path.join(lab.dir, 'box');
  const files = path.join(boxDir, 'files', PUBLISHER_DIR);
  mkdirSync(files, { recursive: true });
  for (let i = 0; i < FILES; i++) writeFileSync(path.join(files, `${i}.ts`), randomBytes(FILE_BYTES));
  const boxRedis = await startRedis(t);

  const runs: Partial<Record<'off' | 'auto', ServingRun>> = {};
  for (const mode of ['off', 'auto'] as const) {
    await t.test(`HOUSEHOLD_YIELD ${mode}: the box serving beside the household`, async (t) => {
      const run = await servingRun(t, lab, home, flow, boxEnv({ mode, entrance, redisUrl: boxRedis.url, dir: boxDir }), mode);
      runs[mode] = run;
      t.ok(run.capacityUpMbit > 0, `the box measured its upload capacity: ${run.capacityUpMbit.toFixed(1)} Mbit/s (shaped ${SHAPE.upMbit})`);
      t.ok(run.capacityUpMbit > SHAPE.upMbit * 0.7 && run.capacityUpMbit < SHAPE.upMbit * 1.2, 'within 30 % of the shaped rate (the table has the figure against its ±10 % goal)');
      t.ok(run.steadyMbit > SHAPE.upMbit * VIEWER_SHARE * 0.5, `viewers got ${run.steadyMbit.toFixed(1)} Mbit/s with the household idle`);
      if (mode === 'auto') {
        // Slack over the goals (0.90, 25 ms, 2 s): the lab shares two loaded cores; the table carries the real figures.
        t.ok(run.householdMbit / idle.householdMbit >= 0.8, `the household keeps ${(run.householdMbit / idle.householdMbit).toFixed(2)} of its upload (≥ 0.8)`);
        const rise = run.interactiveOnly.p95Ms - idle.interactiveOnly.p95Ms;
        t.ok(rise <= 50, `its calls' p95 round trip rises ${rise.toFixed(1)} ms while the box serves (≤ 50 ms)`);
        t.ok(run.yieldMs !== undefined && run.yieldMs <= 4000, `the box yields in ${run.yieldMs} ms (≤ 4 s)`);
        t.ok(run.reclaimMs !== undefined && run.reclaimMs <= 4000, `and takes the idle bandwidth back in ${run.reclaimMs} ms (≤ 4 s)`);
        const qdiscs = (await lab.exec(home.box, ['tc', 'qdisc', 'show'])).stdout;
        t.notMatch(qdiscs, /htb/, 'the agent stopped by SIGTERM took its shaping away');
      }
    });
  }
  const off = runs.off;
  const auto = runs.auto;
  if (!off || !auto) throw new Error('a serving run failed');
  const rows = reportFigures(t, { idle, before: off, after: auto, loadAtStart });
  t.equal(rows.length, 7, 'every figure is in the table');
});

/** An entrance in the internet namespace (no enrolment: the box only needs its socket and its speed test). */
async function startEntrance(t: TestLike, lab: Lab): Promise<string> {
  const redis = await startRedis(t);
  const url = `ws://${lab.internetIp}:${ENTRANCE_PORT}/dandelion/ws/`;
  const entrance = startRole(lab, lab.internet, 'household-entrance', 'entrance', {
    DANDELION_ENTRANCE_IP: lab.internetIp,
    DANDELION_ENTRANCE_PORT: String(ENTRANCE_PORT),
    DANDELION_ENTRANCE_URL: url,
    DANDELION_REDIS_URL: redis.url,
    DANDELION_RUN_DIRECTORY: path.join(lab.dir, 'entrance'),
    DANDELION_REQUIRE_ENROLMENT: 'false',
    DANDELION_REQUIRE_REACHABLE: 'false',
    DANDELION_METRICS_PUBLIC: 'false',
  });
  t.teardown(() => entrance.stop());
  await waitForHttp(lab, lab.internet, `http://${lab.internetIp}:${ENTRANCE_PORT}/dandelion/`, entrance);
  return url;
}

/**
 * One agent run: start the box, read its measured capacity, let the viewers pull with the household
 * idle (its steady rate), then the household's bulk upload starts and later stops (yield, reclaim).
 */
async function servingRun(t: TestLike, lab: Lab, home: Home, flow: InteractiveFlow, env: Record<string, string>, mode: string): Promise<ServingRun> {
  const household = home.household;
  if (!household) throw new Error('no household');
  const agent = startRole(lab, home.box, `household-box-${mode}`, 'agent', env);
  t.teardown(() => agent.stop());
  const measured = await agent.waitForLine(/"msg":"capacity measured"/, 60_000);
  const capacityUpMbit = Number(/"upMbit":([\d.]+)/.exec(measured ?? '')?.[1] ?? NaN);
  if (!measured) throw new Error(`the box measured no capacity:\n${agent.tail()}`);
  const baseUrl = `http://${home.publicIp}:${BOX_HTTP_PORT}/${PUBLISHER_DIR}/`;
  const mapped = await until(async () => (await lab.exec(lab.internet, ['curl', '-sfI', '--max-time', '2', `${baseUrl}0.ts`])).code === 0, 30_000, 500);
  if (!mapped) throw new Error(`the box's files are not reachable at ${baseUrl}:\n${agent.tail()}`);
  const viewers = startViewers(lab, lab.internet, { baseUrl, files: FILES, connections: VIEWER_CONNECTIONS });
  try {
    const settleFrom = Date.now();
    // Bins reach the test up to half a second after they end: the last second before that.
    const settled = await until(() => rateMbit(viewers.bins, Date.now() - 1500, Date.now() - 500) >= SETTLED_SHARE * VIEWER_SHARE * capacityUpMbit, SETTLE_MAX_MS, 500);
    const settleMs = Date.now() - settleFrom;
    t.comment(`${mode}: viewers ${settled ? 'reached' : 'did not reach'} ${SETTLED_SHARE} × VIEWER_SHARE × capacity in ${(settleMs / 1000).toFixed(1)} s after they started`);
    await sleep(AFTER_SETTLE_MS);
    const steadyFrom = Date.now();
    await sleep(STEADY_MS);
    const steadyTo = Date.now();
    const bulk = await bulkUpload(lab, household, { ip: lab.internetIp, port: IPERF_PORT }, BULK_S);
    await sleep(Math.max(0, bulk.dataEndMs + RECLAIM_WATCH_MS - Date.now()) + 500); // the last bins reach us within 0.5 s
    const steadyMbit = rateMbit(viewers.bins, steadyFrom, steadyTo);
    const run: ServingRun = {
      capacityUpMbit,
      settleMs,
      steadyMbit,
      interactiveOnly: rttFigure(flow.window(steadyFrom, steadyTo)),
      householdMbit: bulk.receivedMbit,
      bulkAndInteractive: rttFigure(flow.window(bulk.dataStartMs, bulk.dataEndMs)),
      yieldMs: timeUntil(viewers.bins, bulk.dataStartMs, bulk.dataEndMs, (mbit) => mbit < YIELD_THRESHOLD * steadyMbit),
      reclaimMs: timeUntil(viewers.bins, bulk.dataEndMs, bulk.dataEndMs + RECLAIM_WATCH_MS, (mbit) => mbit >= RECLAIM_THRESHOLD * steadyMbit),
      reclaimWatchMs: RECLAIM_WATCH_MS,
      yieldWatchMs: BULK_S * 1000,
      trace: {
        fromMs: steadyFrom,
        bulkStartMs: Math.round(bulk.dataStartMs - steadyFrom),
        bulkEndMs: Math.round(bulk.dataEndMs - steadyFrom),
        viewerMbitPerBin: binSeries(viewers.bins, steadyFrom, bulk.dataEndMs + RECLAIM_WATCH_MS),
        rtts: flow.requests(steadyFrom, bulk.dataEndMs + RECLAIM_WATCH_MS).map((r) => [Math.round(r.atMs - steadyFrom), r.rttMs ?? null]),
      },
    };
    const { trace: _trace, ...figures } = run;
    t.comment(`${mode}: ${JSON.stringify(figures)}; viewer errors: ${viewers.errors.length}${viewers.errors.length ? ` (${viewers.errors.slice(0, 3).join('; ')})` : ''}`);
    return run;
  } finally {
    viewers.stop();
    await agent.stop();
  }
}

/** The box off (no agent at all): what the household gets on its own line, bulk + interactive, then interactive only. */
async function householdAlone(t: TestLike, lab: Lab, home: Home, flow: InteractiveFlow): Promise<IdleBaseline> {
  const household = home.household;
  if (!household) throw new Error('no household');
  const ip = lab.internetIp;
  const before = await uplinkCounters(home);
  const idleBulk = await bulkUpload(lab, household, { ip, port: IPERF_PORT }, BULK_S);
  const after = await uplinkCounters(home);
  const sentMb = (after.sentBytes - before.sentBytes) / 1e6;
  t.ok(after.overlimits > before.overlimits, `the router's ${SHAPE.upMbit} Mbit/s class held packets back (overlimits +${after.overlimits - before.overlimits}, FIFO drops +${after.drops - before.drops}, ${sentMb.toFixed(1)} MB sent with headers): the shaping is what limits`);
  t.ok(idleBulk.receivedMbit > SHAPE.upMbit * 0.75 && idleBulk.receivedMbit <= SHAPE.upMbit * 1.02, `the household alone uploads ${idleBulk.receivedMbit.toFixed(1)} Mbit/s of the shaped ${SHAPE.upMbit}`);
  const idleInteractiveFrom = Date.now();
  await sleep(INTERACTIVE_ONLY_MS);
  const idle: IdleBaseline = {
    householdMbit: idleBulk.receivedMbit,
    bulkAndInteractive: rttFigure(flow.window(idleBulk.dataStartMs, idleBulk.dataEndMs)),
    interactiveOnly: rttFigure(flow.window(idleInteractiveFrom, Date.now())),
  };
  t.ok(idle.interactiveOnly.sent >= 30, `the interactive flow ran (${idle.interactiveOnly.sent} requests, p95 ${idle.interactiveOnly.p95Ms} ms alone, ${idle.bulkAndInteractive.p95Ms} ms beside the bulk upload)`);
  return idle;
}

/** The box's agent as the runs start it, configured as an operator would. */
function boxEnv(o: { mode: 'off' | 'auto'; entrance: string; redisUrl: string; dir: string }): Record<string, string> {
  return {
    DANDELION_ID: 'box-household',
    DANDELION_REDIS_URL: o.redisUrl,
    DANDELION_ENTRANCE_URLS: JSON.stringify([o.entrance]),
    DANDELION_BOX_SERVER_IP: '0.0.0.0',
    DANDELION_BOX_PORT: String(BOX_PORT),
    DANDELION_BOX_HTTP_PORT: String(BOX_HTTP_PORT),
    DANDELION_HTTPS: 'off',
    DANDELION_PORT_MAPPING: 'auto',
    DANDELION_BASE_DIRECTORY: path.join(o.dir, 'files'),
    DANDELION_RUN_DIRECTORY: path.join(o.dir, 'run'),
    DANDELION_DEFAULT_TTL: '86400',
    DANDELION_BOX_PING_ENTRANCE_FREQ: '2',
    // Measured at start (every agent start runs one) against the entrance, through the shaped line.
    DANDELION_BANDWIDTH_TEST_CRON: '',
    DANDELION_BANDWIDTH_UP: '0',
    DANDELION_VIEWER_SHARE: String(VIEWER_SHARE),
    DANDELION_DISK_RESERVE_MB: '1',
    DANDELION_METRICS_PORT: '0',
    // Until the controller lands the agent's config loader ignores it (it reads only its schema's keys).
    DANDELION_HOUSEHOLD_YIELD: o.mode,
  };
}

/** The table of the five figures, in the test's comments and build/test-output/household-figures.{json,txt}. */
function reportFigures(t: TestLike, o: { idle: IdleBaseline; before: ServingRun; after: ServingRun; loadAtStart: number[] }): FigureRow[] {
  const { idle, loadAtStart } = o;
  const rows = figureRows({ shapedUpMbit: SHAPE.upMbit, viewerShare: VIEWER_SHARE, idle, before: o.before, after: o.after });
  const table = renderTable(rows);
  const out = path.resolve('build', 'test-output');
  mkdirSync(out, { recursive: true });
  const machine = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', kernel: os.release(), loadAtStart, loadAtEnd: os.loadavg() };
  writeFileSync(path.join(out, 'household-figures.json'), `${JSON.stringify({ date: new Date().toISOString(), machine, shape: SHAPE, viewerShare: VIEWER_SHARE, rows, idle, before: o.before, after: o.after }, null, 2)}\n`);
  const header = `The household lab, ${new Date().toISOString()}: ${machine.cpus} × ${machine.cpu}, load ${loadAtStart.map((l) => l.toFixed(1)).join(' ')} → ${machine.loadAtEnd.map((l) => l.toFixed(1)).join(' ')}`;
  writeFileSync(path.join(out, 'household-figures.txt'), `${header}\n${table}\n`);
  for (const line of table.split('\n')) t.comment(line);
  return rows;
}
