// The box yields to the household: when household upload grows, the idle upload shrinks and the agent
// regenerates nginx's viewer rate limit and reloads nginx; the policy's arithmetic is exact.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { changedMaterially, householdUploadMbit, perConnectionRate, viewerBudgetMbit } from '../src/bandwidth/policy.js';
import { systemReadings, withOverrides } from '../src/platform/readings.js';
import { startRedis } from '../../test/helpers/redis.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { eventually, startAgent } from '../../test/helpers/agent.js';

t.test('policy arithmetic', async (t) => {
  const policy = { share: 0.8, floorMbit: 1, maxConnections: 32 };
  t.equal(householdUploadMbit({ atMs: 0, netTxBytes: 0, servedBytes: 0 }, { atMs: 1000, netTxBytes: 2_500_000, servedBytes: 1_250_000 }), 10, '(20 Mbit sent − 10 Mbit served) in 1 s');
  t.equal(householdUploadMbit({ atMs: 0, netTxBytes: 100, servedBytes: 0 }, { atMs: 1000, netTxBytes: 50, servedBytes: 0 }), undefined, 'counter reset skipped');
  t.equal(viewerBudgetMbit(100, policy), 80);
  t.equal(viewerBudgetMbit(0, policy), 1, 'never below the floor');
  t.equal(viewerBudgetMbit(undefined, policy), 1, 'floor until capacity is known');
  t.equal(perConnectionRate(80, 32), 312_500, '80 Mbit/s over 32 connections, in bytes/s');
  t.equal(perConnectionRate(80, 1), 10_000_000, 'one viewer alone gets the whole budget');
  t.ok(changedMaterially(80, 8));
  t.notOk(changedMaterially(80, 75));
});

t.test('nginx rate limit regenerated when idle bandwidth changes', async (t) => {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url });
  let householdBytesPerSecond = 0;
  let tx = 1e9;
  let last = Date.now();
  // This machine's interface counters stand in for nothing useful here: the household is simulated.
  const readings = withOverrides(systemReadings({ baseDirectory: '/' }), () => {
    const now = Date.now();
    tx += (householdBytesPerSecond * (now - last)) / 1000;
    last = now;
    return { 'NET-TX-BYTES': Math.round(tx) };
  });
  const box = await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url], readings, minReloadIntervalMs: 0, env: { DANDELION_BOX_PING_ENTRANCE_FREQ: '0.3' } });
  const conf = (): string => readFileSync(box.status.nginxConfPath, 'utf8');
  t.match(conf(), 'limit_rate $dandelion_viewer_rate;');
  // Rates in the generated map: the default (all VIEWER_MAX_CONNECTIONS open) and one viewer alone.
  const rates = (): { all: number; one: number } => ({
    all: Number(/default (\d+);/.exec(conf())?.[1]),
    one: Number(/\n\s+1 (\d+);/.exec(conf())?.[1]),
  });
  t.same(rates(), { all: 312_500, one: 10_000_000 }, 'idle household: 80 % of 100 Mbit/s, shared by the open connections');
  householdBytesPerSecond = 90e6 / 8; // the household starts uploading 90 Mbit/s
  // The household rate is measured over real time, so allow for timer jitter around the exact 8 Mbit/s.
  const near = (value: number, target: number): boolean => Math.abs(value - target) / target < 0.15;
  // The household figure is a moving average: it converges on 90 Mbit/s within a few periods.
  t.ok(await eventually(() => near(rates().all, 31_250) && near(rates().one, 1_000_000) && near(box.agent.status().viewerBudgetMbit, 8), 20_000),
    `busy household: 80 % of the 10 Mbit/s left (budget ${box.agent.status().viewerBudgetMbit} Mbit/s, nginx's config and the agent agree)`);
  const res = await fetch(`${box.httpBase}/nothing`);
  t.equal(res.status, 404, 'nginx still serving after reloads');
});
