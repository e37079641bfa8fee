/**
 * heartbeat: EXCHANGEs per second one entrance answers, N simulated boxes on persistent sockets, against
 * a bare `ws` echo server answering the same messages, measured the same way by the same worker.
 */
import { rmSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { WebSocketServer } from 'ws';
import { startEntrance } from '../../test/helpers/entrance.js';
import { startRedis } from '../../test/helpers/redis.js';
import { boxExchange } from '../../test/helpers/messages.js';
import type { Benchmark, Row } from './common.js';
import { decodeHistogram, ratioRow } from './common.js';
import type { LoadRequest, LoadResult } from './heartbeat-load.js';

const P99_GOAL_MS = 50;

interface Measured {
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  replies: number;
  errors: number;
  wrong: number;
}

function load(req: LoadRequest): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./heartbeat-load.js', import.meta.url), { workerData: req });
    worker.once('message', (r: LoadResult | { error: string }) => {
      void worker.terminate();
      if ('error' in r) return reject(new Error(r.error));
      const h = decodeHistogram(r.histogram);
      resolve({ perSecond: r.replies / (r.elapsedMs / 1000), p50Ms: h.getValueAtPercentile(50) / 1000, p99Ms: h.getValueAtPercentile(99) / 1000, replies: r.replies, errors: r.errors, wrong: r.wrong });
    });
    worker.once('error', reject);
  });
}

export const heartbeat: Benchmark = {
  name: 'heartbeat',
  async run({ smoke }, cleanup): Promise<Row[]> {
    const boxes = smoke ? 50 : 1000;
    const durationMs = smoke ? 2000 : 10_000;
    const messages = Array.from({ length: boxes }, (_, i) => JSON.stringify(boxExchange(`box-bench${String(i).padStart(5, '0')}`)));

    const redis = await startRedis(cleanup);
    const entrance = await startEntrance(cleanup, { redisUrl: redis.url });
    cleanup.teardown(() => rmSync(entrance.runDirectory, { recursive: true, force: true }));
    const project = await load({ url: entrance.url, messages, durationMs, expect: 'accepted' });
    await entrance.stop();

    const echo = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    cleanup.teardown(() => new Promise((r) => echo.close(r)));
    echo.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
    await new Promise<void>((r) => echo.once('listening', () => r()));
    const address = echo.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const reference = await load({ url: `ws://127.0.0.1:${port}/`, messages, durationMs, expect: 'echo' });

    const shape = `${boxes} boxes, ${durationMs / 1000} s; entrance p50 ${project.p50Ms.toFixed(2)} ms, echo p50 ${reference.p50Ms.toFixed(2)} ms`;
    const errors = (project.errors + reference.errors > 0 ? `; sockets closed early: ${project.errors} entrance, ${reference.errors} echo` : '') +
      (project.wrong + reference.wrong > 0 ? `; replies not ACCEPTED/echoed: ${project.wrong} entrance, ${reference.wrong} echo` : '');
    const throughput = ratioRow({ bench: 'heartbeat', metric: 'EXCHANGE/s', unit: '/s', project: project.perSecond, reference: reference.perSecond, goal: `ratio ≥ 0.5 with p99 < ${P99_GOAL_MS} ms`, note: shape + errors }, 0.5);
    throughput.pass &&= project.p99Ms < P99_GOAL_MS && project.errors === 0 && project.wrong === 0;
    const p99: Row = {
      bench: 'heartbeat', metric: 'EXCHANGE p99', unit: 'ms', project: project.p99Ms, reference: reference.p99Ms,
      ratio: project.p99Ms / reference.p99Ms, goal: `< ${P99_GOAL_MS} ms`, pass: project.p99Ms < P99_GOAL_MS, note: 'latency under the full load above',
    };
    return [throughput, p99];
  },
};
