/**
 * heartbeat: EXCHANGEs per second one entrance answers, N simulated boxes on persistent sockets, against
 * a bare `ws` echo server answering the same messages, measured the same way by the same worker.
 */
import { rmSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { WebSocketServer } from 'ws';
import { startEntrance } from '../../test/helpers/entrance.js';
import { startRedis } from '../../test/helpers/redis.js';
import { boxExchange } from '../../test/helpers/messages.js';
import type { Benchmark, Row } from './common.js';
import { ratioRow } from './common.js';
import type { LoadRequest, LoadResult, Step } from './heartbeat-load.js';

const P99_GOAL_MS = 50;

function load(req: LoadRequest): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./heartbeat-load.js', import.meta.url), { workerData: req });
    worker.once('message', (r: LoadResult | { error: string }) => {
      void worker.terminate();
      if ('error' in r) reject(new Error(r.error));
      else resolve(r);
    });
    worker.once('error', reject);
  });
}

const describe = (r: LoadResult): string => r.steps.map((s) => `${Math.round(s.offered)}→${Math.round(s.achieved)}/s p99 ${s.p99Ms.toFixed(1)} ms${s.errors || s.wrong ? ` (${s.errors} closed, ${s.wrong} wrong)` : ''}${s.ok ? '' : ' ✗'}`).join(', ');

export const heartbeat: Benchmark = {
  name: 'heartbeat',
  noisy: true,
  async run({ smoke }, cleanup): Promise<Row[]> {
    const boxes = smoke ? 50 : 1000;
    const plan = { stepMs: smoke ? 500 : 3000, startRate: smoke ? 200 : 500, bisections: smoke ? 1 : 4, p99GoalMs: P99_GOAL_MS, ...(smoke ? { maxDoublings: 1 } : {}) };
    const messages = Array.from({ length: boxes }, (_, i) => JSON.stringify(boxExchange(`box-bench${String(i).padStart(5, '0')}`)));

    const redis = await startRedis(cleanup);
    // Every simulated box connects from 127.0.0.1 at once: the per-address limits are raised to fit them.
    const perAddress = { DANDELION_MAX_SOCKETS_PER_IP: String(boxes + 16), DANDELION_MAX_HANDSHAKES_PER_SECOND_PER_IP: String(boxes + 16) };
    const entrance = await startEntrance(cleanup, { redisUrl: redis.url, env: perAddress });
    cleanup.teardown(() => rmSync(entrance.runDirectory, { recursive: true, force: true }));
    const loop = monitorEventLoopDelay({ resolution: 5 });
    loop.enable();
    const project = await load({ url: entrance.url, messages, expect: 'accepted', ...plan });
    loop.disable();
    await entrance.stop();

    const echo = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    cleanup.teardown(() => new Promise((r) => echo.close(r)));
    echo.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
    await new Promise<void>((r) => echo.once('listening', () => r()));
    const address = echo.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const reference = await load({ url: `ws://127.0.0.1:${port}/`, messages, expect: 'echo', ...plan });

    const stalls = `entrance event loop delay p99 ${(loop.percentile(99) / 1e6).toFixed(1)} ms, max ${(loop.max / 1e6).toFixed(0)} ms; `;
    const note = stalls + `${boxes} boxes on persistent sockets, open loop, ${plan.stepMs / 1000} s steps (offered→answered, p99 from when each message was due); ` +
      `entrance: ${describe(project)}; echo: ${describe(reference)}`;
    // When no rate kept p99 under the goal, the figure is the lowest rate tried (the row fails).
    const figure = (r: LoadResult): Step | undefined => r.best ?? [...r.steps].sort((a, b) => a.offered - b.offered)[0];
    const p = figure(project);
    const e = figure(reference);
    const throughput = ratioRow({
      bench: 'heartbeat', metric: `EXCHANGE/s at p99 < ${P99_GOAL_MS} ms`, unit: '/s', project: p?.achieved, reference: e?.achieved,
      goal: 'ratio ≥ 0.5', note: (project.best && reference.best ? '' : 'NO RATE KEPT p99 UNDER THE GOAL for ' + [project.best ? '' : 'the entrance', reference.best ? '' : 'the echo'].filter(Boolean).join(' and ') + '; figures at the lowest rate tried; ') + note,
    }, 0.5);
    throughput.pass &&= project.best !== undefined && reference.best !== undefined;
    const p99: Row = {
      bench: 'heartbeat', metric: 'EXCHANGE p99 at that rate', unit: 'ms', project: p?.p99Ms, reference: e?.p99Ms,
      ratio: p && e ? p.p99Ms / e.p99Ms : undefined, goal: `< ${P99_GOAL_MS} ms`,
      pass: project.best !== undefined && project.best.p99Ms < P99_GOAL_MS, note: 'at the highest offered rate that kept it under the goal',
    };
    return [throughput, p99];
  },
};
