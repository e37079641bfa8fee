// What a rollout costs each heartbeat, seen in a real Redis's MONITOR: steady boxes the stage does not select
// write no version record and touch no box set, and the rollout is read at most about once a second however
// many boxes beat; a box's version record is written again when its version changes, or once a third of
// ENTRANCE_EXPIRE_BOX_TIME passed (so the fleet's versions still count it), or its agent started again; a change the CLI makes (another
// process) reaches this entrance's offers within about a second.
import t from 'tap';
import type { Redis } from 'ioredis';
import { eventually } from '../../../test/helpers/agent.js';
import { runDandelion } from '../../../test/helpers/cli.js';
import { releaseKeys } from '../../../shared/src/redis-keys.js';
import { NEW, OLD, boxesIn, heartbeat, setUp } from './fixtures/rollout-setup.js';

/** The commands Redis runs while `fn` runs (scripts' inner commands included), each as its words. */
async function commandsDuring(redis: Redis, fn: () => Promise<void>): Promise<string[][]> {
  const monitor = await redis.monitor();
  const seen: string[][] = [];
  monitor.on('monitor', (_time: string, args: string[]) => seen.push(args));
  try {
    await fn();
    await redis.ping(); // seen after everything before it
    await eventually(async () => seen.some((args) => args[0]?.toLowerCase() === 'ping'), 5_000, 20);
  } finally {
    monitor.disconnect();
  }
  return seen;
}

t.test('a steady box costs a heartbeat no rollout command; the rollout is read about once a second', async (t) => {
  let now = 1_800_000_000_000;
  const { redis, api, peer } = await setUp(t, { now: () => now });
  const keys = releaseKeys();
  const client = redis.client();
  t.teardown(() => client.disconnect());
  const started = await api('rollout', { VERSION: NEW, PERCENT: 10, STAGES: [10], HEARTBEAT_SECONDS: 600 });
  t.equal(started.status, 201);
  const outside = boxesIn(10, 100, 5, 'box-steady');
  for (const id of outside) t.equal(await heartbeat(peer, id, { AGENT_VERSION: OLD }), undefined, `${id} is not selected`);
  const seenOf = async (id: string): Promise<number> => (JSON.parse((await client.hget(keys.boxVersions, id)) ?? '{}') as { SEEN: number }).SEEN;
  const firstSeen = await seenOf(outside[0] as string);

  const began = performance.now();
  const commands = await commandsDuring(client, async () => {
    for (let round = 0; round < 10; round++) for (const id of outside) await heartbeat(peer, id, { AGENT_VERSION: OLD });
  });
  const seconds = (performance.now() - began) / 1000;
  const touching = (key: string) => commands.filter((args) => args.slice(1).some((a) => a === key || a.startsWith(`${key}:`)));
  t.ok(commands.length >= 50, `the monitor saw the heartbeats' other writes (${commands.length} commands)`);
  t.same(touching(keys.boxVersions), [], '50 heartbeats of unchanged boxes: no version record written');
  t.same(touching(`${keys.rollout}:${started.json.ROLLOUT.ID}`), [], 'nor any of the rollout\'s box sets touched');
  const rolloutReads = touching(keys.rollout).length;
  t.ok(rolloutReads <= Math.ceil(seconds) + 1, `the rollout read ${rolloutReads} times in ${seconds.toFixed(2)} s`);

  now += 39_000;
  await heartbeat(peer, outside[0] as string, { AGENT_VERSION: OLD });
  t.equal(await seenOf(outside[0] as string), firstSeen, 'within a third of the expiry (40 s): not rewritten');
  now += 2_000;
  await heartbeat(peer, outside[0] as string, { AGENT_VERSION: OLD });
  t.equal(await seenOf(outside[0] as string), now, 'then rewritten, so the fleet\'s versions still count it');
  await heartbeat(peer, outside[1] as string, { AGENT_VERSION: '1.1.0' });
  t.match(JSON.parse((await client.hget(keys.boxVersions, outside[1] as string)) ?? '{}'), { VERSION: '1.1.0', SEEN: now }, 'a new version is written at once');
  t.match((await api('rollout')).json.VERSIONS, { [OLD]: 4, '1.1.0': 1 });
  // An agent that started again (its AGENT-UPTIME went back) is written at once, so SEEN says the new process reported.
  const counters = { 'SERVE-ERRORS': 0, 'AGENT-ERRORS': 0 };
  const restarting = outside[2] as string;
  await heartbeat(peer, restarting, { AGENT_VERSION: OLD, ...counters, 'AGENT-UPTIME': 3_600 });
  const beforeRestart = await seenOf(restarting);
  now += 5_000;
  await heartbeat(peer, restarting, { AGENT_VERSION: OLD, ...counters, 'AGENT-UPTIME': 3_605 });
  t.equal(await seenOf(restarting), beforeRestart, 'the same agent 5 s later: not rewritten');
  now += 5_000;
  await heartbeat(peer, restarting, { AGENT_VERSION: OLD, ...counters, 'AGENT-UPTIME': 4 });
  t.equal(await seenOf(restarting), now, 'an agent that started again: rewritten at once');

  // The CLI (another process) pauses it: this entrance's offers stop within about a second.
  const [inside] = boxesIn(0, 10, 1, 'box-inside');
  t.equal((await heartbeat(peer, inside as string, { AGENT_VERSION: OLD }))?.ACTION, 'install');
  const paused = await runDandelion(['entrance', 'rollout', 'pause'], { DANDELION_REDIS_URL: redis.url });
  t.equal(paused.code, 0, paused.stderr);
  const pausedAt = performance.now();
  t.ok(await eventually(async () => (await heartbeat(peer, inside as string, { AGENT_VERSION: OLD })) === undefined, 5_000, 50), 'no offer once the pause is read');
  t.ok(performance.now() - pausedAt < 3_000, 'within about a second (the cache holds 1 s)');
});
