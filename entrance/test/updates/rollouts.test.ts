// A rollout at the entrance, with simulated boxes (WebSocket clients sending real EXCHANGEs that name their
// AGENT_VERSION) against a real entrance and Redis: offers go only to the boxes the stage selects, that run
// another version, have a release for their arch and did not fail it, never to an original box; stages
// advance by themselves while health holds; the rollout halts by itself when its first boxes go silent or
// boxes report the update failed; pause, resume and rollback (revert offers) through the API and the CLI.
import t from 'tap';
import { startEntrance } from '../../../test/helpers/entrance.js';
import { runDandelion } from '../../../test/helpers/cli.js';
import { releaseKeys } from '../../../shared/src/redis-keys.js';
import { bucketOf } from '../../src/updates/rollout-policy.js';
import { releaseKey, sha256 } from './fixtures/releases.js';
import { NEW, OLD, boxesIn, heartbeat, setUp } from './fixtures/rollout-setup.js';

t.test('offers only to selected boxes; stages advance while healthy; pause, resume and rollback', async (t) => {
  let now = 1_800_000_000_000;
  const { redis, release, entrance, base, api, peer } = await setUp(t, { now: () => now });
  const low = boxesIn(0, 10, 4); // the first stage's (10 %)
  const mid = boxesIn(10, 50, 4); // the second's (50 %)
  const high = boxesIn(50, 100, 4); // never: the rollout ends at 50 %
  const [original, arm, current] = boxesIn(0, 10, 3, 'box-other');

  t.equal((await api('rollout', { VERSION: '9.9.9', PERCENT: 50 })).status, 400, 'a version never uploaded cannot be rolled out');
  t.equal((await api('rollout', { VERSION: NEW, PERCENT: 50, GROUP: 'x' })).status, 400, 'a percentage or a group, not both');
  const started = await api('rollout', { VERSION: NEW, PERCENT: 50, STAGES: [10, 50, 100], STAGE_SECONDS: 600, HEARTBEAT_SECONDS: 5 });
  t.equal(started.status, 201, JSON.stringify(started.json));
  t.same(started.json.ROLLOUT.STAGES, [10, 50], 'stages beyond the percentage are dropped');
  t.equal((await api('rollout', { VERSION: NEW, PERCENT: 10 })).status, 400, 'one rollout at a time');

  for (const id of low) {
    const offer = await heartbeat(peer, id, { AGENT_VERSION: OLD });
    t.same(offer, { ACTION: 'install', VERSION: NEW, ROLLOUT: started.json.ROLLOUT.ID, RELEASE: release.line, URL: `${base}/dandelion/releases/${NEW}/x64` }, `${id} (bucket ${bucketOf(id)}) is offered ${NEW}`);
  }
  for (const id of [...mid, ...high]) t.equal(await heartbeat(peer, id, { AGENT_VERSION: OLD }), undefined, `${id} (bucket ${bucketOf(id)}) is not, in the first stage`);
  t.equal(await heartbeat(peer, original as string, undefined), undefined, 'an original box (no AGENT_VERSION) is offered nothing');
  t.equal(await heartbeat(peer, arm as string, { AGENT_VERSION: OLD, AGENT_ARCH: 'arm64' }), undefined, 'nor a box whose arch has no release');
  t.equal(await heartbeat(peer, current as string, { AGENT_VERSION: NEW }), undefined, 'nor one already on the version');
  const offered = await fetch(`${base}/dandelion/releases/${NEW}/x64`);
  t.equal(sha256(Buffer.from(await offered.arrayBuffer())), sha256(release.binary), 'the offer\'s URL serves the release');

  // The first stage's boxes update and keep heartbeating: healthy.
  const everyone = async (): Promise<void> => {
    for (const id of low) await heartbeat(peer, id, { AGENT_VERSION: NEW, AGENT_PREVIOUS_VERSION: OLD });
    for (const id of [...mid, ...high]) await heartbeat(peer, id, { AGENT_VERSION: OLD });
    await heartbeat(peer, arm as string, { AGENT_VERSION: OLD, AGENT_ARCH: 'arm64' });
    await heartbeat(peer, current as string, { AGENT_VERSION: NEW });
  };
  await everyone();
  now += 300_000;
  await everyone();
  await entrance.tick();
  t.equal((await api('rollout')).json.ROLLOUT.STAGE, 0, 'half the stage time: the stage holds');
  now += 300_001;
  await everyone();
  await entrance.tick();
  let status = (await api('rollout')).json;
  t.match(status.ROLLOUT, { STATE: 'running', STAGE: 1, STAGE_PERCENT: 50, OFFERED: 4, UPDATED: 4, FAILED: 0 }, 'healthy for the stage time: the next stage');
  t.match(status.VERSIONS, { [OLD]: 9, [NEW]: 5 }, 'versions across the fleet (the original box is not counted)');
  for (const id of mid) t.equal((await heartbeat(peer, id, { AGENT_VERSION: OLD }))?.ACTION, 'install', `${id} is offered in the second stage`);
  for (const id of high) t.equal(await heartbeat(peer, id, { AGENT_VERSION: OLD }), undefined, `${id} still is not`);

  t.equal((await api('rollout/pause', {})).json.ROLLOUT.STATE, 'paused');
  t.equal(await heartbeat(peer, mid[0] as string, { AGENT_VERSION: OLD }), undefined, 'paused: no offers');
  now += 3_600_000;
  await everyone();
  await entrance.tick();
  t.equal((await api('rollout')).json.ROLLOUT.STAGE, 1, 'nor stage advance');
  t.equal((await api('rollout/resume', {})).json.ROLLOUT.STATE, 'running');
  t.equal((await heartbeat(peer, mid[0] as string, { AGENT_VERSION: OLD }))?.ACTION, 'install', 'resumed: offers again');
  t.equal((await api('rollout/resume', {})).status, 400, 'a running rollout cannot be resumed');

  t.equal((await api('rollout/rollback', {})).json.ROLLOUT.STATE, 'rolling-back');
  for (const id of low) {
    t.same(await heartbeat(peer, id, { AGENT_VERSION: NEW, AGENT_PREVIOUS_VERSION: OLD }), { ACTION: 'revert', VERSION: OLD, ROLLOUT: started.json.ROLLOUT.ID }, `${id} is told to go back to ${OLD}`);
  }
  t.equal(await heartbeat(peer, low[0] as string, { AGENT_VERSION: NEW, AGENT_PREVIOUS_VERSION: '' }), undefined, 'not a box that no longer keeps the old version');
  t.equal(await heartbeat(peer, current as string, { AGENT_VERSION: NEW, AGENT_PREVIOUS_VERSION: OLD }), undefined, 'nor one this rollout did not update');
  t.equal(await heartbeat(peer, mid[1] as string, { AGENT_VERSION: OLD }), undefined, 'boxes still on the old version get nothing');
  t.equal((await heartbeat(peer, low[1] as string, { AGENT_VERSION: OLD, AGENT_PREVIOUS_VERSION: NEW })), undefined, 'a reverted box: nothing more');
  const next = await api('rollout', { VERSION: NEW, PERCENT: 10 });
  t.equal(next.status, 201, 'a rollout rolled back gives way to a new one');
  t.ok((await redis.client().ttl(releaseKeys().offered(started.json.ROLLOUT.ID))) > 0, 'the old rollout\'s box sets expire');
  t.equal(await heartbeat(peer, low[2] as string, { AGENT_VERSION: NEW, AGENT_PREVIOUS_VERSION: OLD }), undefined, 'and its reverts end');
});

t.test('halts by itself when more than 2 of its first boxes go silent', async (t) => {
  let now = 1_800_000_000_000;
  const { entrance, api, peer } = await setUp(t, { now: () => now });
  const boxes = boxesIn(0, 100, 8);
  t.equal((await api('rollout', { VERSION: NEW, PERCENT: 100, STAGES: [100], HEARTBEAT_SECONDS: 5 })).status, 201);
  for (const id of boxes) t.equal((await heartbeat(peer, id, { AGENT_VERSION: OLD }))?.ACTION, 'install');
  const alive = async (ids: string[]): Promise<void> => {
    for (const id of ids) await heartbeat(peer, id, { AGENT_VERSION: NEW, AGENT_PREVIOUS_VERSION: OLD });
  };
  now += 16_000; // three heartbeats and a second
  await alive(boxes.slice(2));
  await entrance.tick();
  t.equal((await api('rollout')).json.ROLLOUT.STATE, 'running', 'two silent boxes: within what a rollout tolerates');
  now += 16_000;
  await alive(boxes.slice(3));
  await entrance.tick();
  const { ROLLOUT } = (await api('rollout')).json;
  t.equal(ROLLOUT.STATE, 'halted', 'a third: halted');
  t.match(ROLLOUT.REASON, /3 of the first 8 boxes offered the update have been silent/);
  t.equal(await heartbeat(peer, 'box-latecomer', { AGENT_VERSION: OLD }), undefined, 'halted: no more offers');
});

t.test('halts by itself when boxes report the update failed; a failed box is not offered it again (CLI)', async (t) => {
  const { redis, entrance, api, peer } = await setUp(t);
  const env = { DANDELION_REDIS_URL: redis.url };
  const cli = async (...args: string[]): Promise<Record<string, any>> => {
    const run = await runDandelion(['entrance', ...args, '--json'], env);
    if (run.code !== 0) throw new Error(`dandelion entrance ${args.join(' ')}: exit ${run.code}: ${run.stderr}`);
    return JSON.parse(run.stdout) as Record<string, any>;
  };
  const canary = ['box-c1', 'box-c2', 'box-c3', 'box-c4'];
  t.same(await cli('group', 'add', 'canary', ...canary), { GROUP: 'canary', ACTION: 'add', CHANGED: 4 });
  t.same((await api('groups')).json.GROUPS, { canary }, 'the API lists the group');
  const refused = await runDandelion(['entrance', 'rollout', 'start', '--version', NEW, '--group', 'nobody'], env);
  t.equal(refused.code, 2, 'an unknown group: exit 2');
  t.match(refused.stderr, /no group nobody/);
  t.equal((await cli('rollout', 'start', '--version', NEW, '--group', 'canary', '--heartbeat-seconds', '600')).ROLLOUT.STATE, 'running');

  t.equal(await heartbeat(peer, 'box-outsider', { AGENT_VERSION: OLD }), undefined, 'a box outside the group: nothing');
  for (const id of canary) t.equal((await heartbeat(peer, id, { AGENT_VERSION: OLD }))?.ACTION, 'install', `${id} of the group is offered it`);
  const failed = { AGENT_VERSION: OLD, UPDATE_FAILED: NEW, UPDATE_FAILED_REASON: 'did not register within 300 s' };
  t.equal(await heartbeat(peer, 'box-c1', failed), undefined, 'a box that failed it is not offered it again');
  t.equal(await heartbeat(peer, 'box-c2', failed), undefined);
  await entrance.tick();
  t.equal((await api('rollout')).json.ROLLOUT.STATE, 'running', 'two failures: running');
  t.equal(await heartbeat(peer, 'box-c1', { AGENT_VERSION: OLD }), undefined, 'nor later, once it no longer says so');
  await heartbeat(peer, 'box-c3', failed);
  await entrance.tick();
  const status = (await api('rollout')).json;
  t.match(status.ROLLOUT, { STATE: 'halted', FAILED: 3, OFFERED: 4 }, 'a third: halted');
  t.match(status.ROLLOUT.REASON, /3 boxes reported that the update failed/);
  t.equal(await heartbeat(peer, 'box-c4', { AGENT_VERSION: OLD }), undefined, 'halted: no offers');
  const text = await runDandelion(['entrance', 'rollout', 'status'], env);
  t.match(text.stdout, /HALTED \(3 boxes reported/, 'the status in words');
  t.equal((await api('rollout/resume', {})).json.ROLLOUT.STATE, 'running', 'the operator resumes it');
  t.equal((await heartbeat(peer, 'box-c4', { AGENT_VERSION: OLD }))?.ACTION, 'install', 'offers again');
  t.equal(await heartbeat(peer, 'box-c3', { AGENT_VERSION: OLD }), undefined, 'not to the boxes that failed it');
  await entrance.tick();
  t.equal((await api('rollout')).json.ROLLOUT.STATE, 'halted', 'and the failures halt it again');
  t.equal((await cli('rollout', 'rollback')).ROLLOUT.STATE, 'rolling-back', 'rolled back from the CLI');
  t.same((await api('groups/canary/remove', {})).json, { GROUP: 'canary', ACTION: 'remove', CHANGED: 4 }, 'the group removed');
  t.same((await api('groups')).json.GROUPS, {});
});

t.test('two entrances deciding at once take one step', async (t) => {
  let now = 1_800_000_000_000;
  const key = releaseKey();
  const { redis, entrance, api } = await setUp(t, { now: () => now, key });
  const other = await startEntrance(t, { redisUrl: redis.url, releaseKeys: key.trusted, now: () => now, env: { DANDELION_ENTRANCE_SWEEP_FREQ: '60' } });
  t.equal((await api('rollout', { VERSION: NEW, PERCENT: 100, STAGES: [1, 10, 100], STAGE_SECONDS: 60 })).status, 201);
  now += 61_000;
  await Promise.all([entrance.tick(), other.entrance.tick(), entrance.tick(), other.entrance.tick()]);
  t.equal((await api('rollout')).json.ROLLOUT.STAGE, 1, 'one stage further, not several');
});
