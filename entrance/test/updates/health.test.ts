// A rollout's health beyond silence, with simulated boxes (WebSocket clients sending real EXCHANGEs) against
// a real entrance and Redis: the rollout halts by itself when its first updated boxes report SERVE-ERRORS
// rising against their rate before the update, not for one stray error (nor for a box whose old agent reports
// no counters); and a box that was reachable before the update and is not after counts as unhealthy.
import t from 'tap';
import { serveBoxPages } from '../../../test/helpers/box-pages.js';
import { eventually } from '../../../test/helpers/agent.js';
import { releaseKeys } from '../../../shared/src/redis-keys.js';
import { NEW, OLD, boxesIn, heartbeat, heartbeatReply, setUp } from './fixtures/rollout-setup.js';

/** What an agent reports: its version and its counters since it started `uptime` seconds ago. */
const agent = (version: string, serveErrors: number, uptime: number, more: Record<string, unknown> = {}) => ({
  AGENT_VERSION: version, ...(version === NEW ? { AGENT_PREVIOUS_VERSION: OLD } : {}),
  'SERVE-ERRORS': serveErrors, 'AGENT-ERRORS': 0, 'AGENT-UPTIME': uptime, ...more,
});

t.test('halts by itself when its first updated boxes\' serve errors rise; one stray error does not', async (t) => {
  let now = 1_800_000_000_000;
  const { redis, entrance, api, peer } = await setUp(t, { now: () => now });
  const boxes = boxesIn(0, 100, 6, 'box-h');
  const [a, b, c, d, e, original] = boxes as [string, string, string, string, string, string];
  // Heartbeats every 10 minutes: silence never decides here.
  const started = await api('rollout', { VERSION: NEW, PERCENT: 100, STAGES: [100], STAGE_SECONDS: 600, HEARTBEAT_SECONDS: 600 });
  t.equal(started.status, 201);
  // A day on the old version with 2 errors each; the last box's old agent reports no counters.
  for (const id of [a, b, c, d, e]) t.equal((await heartbeat(peer, id, agent(OLD, 2, 86_400)))?.ACTION, 'install', `${id} is offered the update`);
  t.equal((await heartbeat(peer, original, { AGENT_VERSION: OLD }))?.ACTION, 'install', 'so is a box whose agent reports no counters');
  const before = JSON.parse((await redis.client().hget(releaseKeys().before(started.json.ROLLOUT.ID), a)) ?? '{}') as Record<string, unknown>;
  t.match(before, { SERVE_ERRORS: 2, AGENT_ERRORS: 0, AGENT_UPTIME: 86_400, SERVING: false, AT: now }, 'the offer kept what the box reported on its old version');

  now += 60_000;
  for (const id of [a, b, c, d, e]) await heartbeat(peer, id, agent(NEW, 1, 60));
  await heartbeat(peer, original, { AGENT_VERSION: NEW, AGENT_PREVIOUS_VERSION: OLD });
  await entrance.tick();
  t.match((await api('rollout')).json.ROLLOUT, { STATE: 'running', UPDATED: 6 }, 'one stray error each since the update: healthy');

  now += 60_000;
  for (const [id, errors] of [[a, 40], [b, 40], [c, 9], [d, 1], [e, 1]] as const) await heartbeat(peer, id, agent(NEW, errors, 120));
  await entrance.tick();
  t.equal((await api('rollout')).json.ROLLOUT.STATE, 'running', 'two boxes whose errors rose, one with nine (below the floor): within what a rollout tolerates');

  now += 60_000;
  await heartbeat(peer, c, agent(NEW, 30, 180));
  await entrance.tick();
  const { ROLLOUT } = (await api('rollout')).json;
  t.equal(ROLLOUT.STATE, 'halted', 'a third: halted by itself');
  t.match(ROLLOUT.REASON, /^3 of the first boxes offered or updated are unhealthy \(/);
  for (const [id, text] of [[a, '40 in 120 s'], [b, '40 in 120 s'], [c, '30 in 180 s']]) t.match(ROLLOUT.REASON, `${id}: serve errors rose: ${text} since the update`, `the reason names ${id} and why`);
  t.notMatch(ROLLOUT.REASON, d, 'and not the healthy ones');
  t.equal(await heartbeat(peer, 'box-latecomer', agent(OLD, 0, 60)), undefined, 'halted: no more offers');
});

t.test('an updated box that served before and does not now counts as unhealthy', async (t) => {
  let offset = 0;
  const { entrance, api, peer } = await setUp(t, { now: () => Date.now() + offset });
  const boxes = boxesIn(0, 100, 3, 'box-s');
  // Each box's viewer and publisher port answers as the box: the entrance's probes find it reachable.
  const pages = await Promise.all(boxes.map((id) => serveBoxPages(t, '127.0.0.1', 0, id)));
  const urls = (i: number) => ({
    HTTP_URL: `http://127.0.0.1:${pages[i]?.port}/`, CONNECT_WS: `ws://127.0.0.1:${pages[i]?.port}/dandelion/${boxes[i]}/ws/`, PORT_MAPPING: 'none',
  });
  /** Heartbeats until the entrance's verdict on the box is `state`. */
  const judged = async (i: number, version: string, state: string): Promise<void> => {
    const id = boxes[i] as string;
    const ok = await eventually(async () => (await heartbeatReply(peer, id, agent(version, 0, 3600, urls(i)))).REACHABILITY === state, 10_000, 100);
    t.ok(ok, `${id} is ${state}`);
  };
  t.equal((await api('rollout', { VERSION: NEW, PERCENT: 100, STAGES: [100], STAGE_SECONDS: 3600, HEARTBEAT_SECONDS: 600 })).status, 201);
  for (let i = 0; i < boxes.length; i++) await judged(i, OLD, 'reachable'); // offered while reachable

  // Updated; the first box still serves, the other two no longer do (their ports close).
  for (let i = 0; i < boxes.length; i++) await heartbeat(peer, boxes[i] as string, agent(NEW, 0, 60, urls(i)));
  await entrance.tick();
  t.match((await api('rollout')).json.ROLLOUT, { STATE: 'running', UPDATED: 3 });
  await pages[1]?.close();
  await pages[2]?.close();
  offset += 5 * 60_000 + 1000; // the entrance probes a reachable box again after 5 minutes
  await judged(1, NEW, 'forward-port');
  await judged(2, NEW, 'forward-port');
  await judged(0, NEW, 'reachable');
  await entrance.tick();
  t.equal((await api('rollout')).json.ROLLOUT.STATE, 'running', 'two boxes that no longer serve: tolerated');

  await pages[0]?.close();
  offset += 5 * 60_000 + 1000;
  for (const i of [0, 1, 2]) await judged(i, NEW, 'forward-port');
  await entrance.tick();
  const { ROLLOUT } = (await api('rollout')).json;
  t.equal(ROLLOUT.STATE, 'halted', 'the third: halted');
  for (const id of boxes) t.match(ROLLOUT.REASON, `${id}: no longer serves (reachable before the update, forward-port now)`);
});
