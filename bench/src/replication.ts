/**
 * replication latency: a 2 MB segment appears in the publisher's watched folder (renamed into place, as
 * ffmpeg's temp_file flag does) → the publisher's index holds 2 confirmed copies (size and SHA-256 each
 * box answered). Two agents in their own processes; the publisher in this one, as one live stream's
 * uploader. Reference: one `cp` of the same file plus `sha256sum` of the copy.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEntrance } from '../../test/helpers/entrance.js';
import { startPublisher } from '../../test/helpers/publisher.js';
import { startRedis } from '../../test/helpers/redis.js';
import { NODE_AGENT, startAgentProcess } from './agent-process.js';
import type { Benchmark, Row } from './common.js';
import { latencyHistogram, micros } from './common.js';

const FILE_BYTES = 2 * 1024 * 1024;
const REPLICAS = 2;
/** The p95 goal: at most twice `cp` + `sha256sum` of the same file in the same run. */
const P95_GOAL_RATIO = 2;
/** A live stream's pace is one segment per 2 s; segments here follow one another 200 ms after confirmation. */
const GAP_MS = 200;
const CONFIRM_TIMEOUT_MS = 10_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const replication: Benchmark = {
  name: 'replication',
  noisy: true,
  async run({ smoke }, cleanup): Promise<Row[]> {
    const segments = smoke ? 3 : 40;
    const redis = await startRedis(cleanup);
    const entrance = await startEntrance(cleanup, { redisUrl: redis.url });
    cleanup.teardown(() => rmSync(entrance.runDirectory, { recursive: true, force: true }));
    // The default 5 s heartbeat, as on a box: at 0.5 s a third of each agent's CPU went to starting the
    // readings' child processes, blocking its event loop while it received files.
    for (const n of [1, 2]) await startAgentProcess(cleanup, { command: NODE_AGENT, redisUrl: redis.url, entranceUrl: entrance.url, boxId: `box-benchrep${n}`, pingSeconds: 5 });
    const publisher = await startPublisher(cleanup, {
      redisUrl: redis.url, entranceUrls: [entrance.url], id: 'publisher-benchrep',
      env: { DANDELION_REPLICAS: String(REPLICAS), DANDELION_MIN_HTTP_PEERS: String(REPLICAS), DANDELION_FILE_TTL: '600' },
    });
    cleanup.teardown(() => rmSync(path.dirname(publisher.watchDirectory), { recursive: true, force: true }));
    // Both boxes connected before the first segment: a start-up cost, not replication.
    const deadline = Date.now() + 30_000;
    while (publisher.publisher.pool.ready().length < REPLICAS) {
      if (Date.now() > deadline) throw new Error(`the publisher connected to ${publisher.publisher.pool.ready().length} of ${REPLICAS} boxes in 30 s`);
      await sleep(50);
    }
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'dandelion-bench-rep-'));
    cleanup.teardown(() => rmSync(scratch, { recursive: true, force: true }));
    const live = path.join(publisher.watchDirectory, 'live');
    mkdirSync(live, { recursive: true });

    const project = latencyHistogram();
    const reference = latencyHistogram();
    const copy = path.join(scratch, 'copy.ts');
    for (let i = 0; i < segments; i++) {
      const content = randomBytes(FILE_BYTES);
      const name = `seg-${i}.ts`;
      // Written beside the folder's files under a temporary name the watcher ignores, then renamed.
      const temp = path.join(live, `.${name}.tmp`);
      writeFileSync(temp, content);
      const t0 = process.hrtime.bigint();
      renameSync(temp, path.join(live, name));
      const stop = Date.now() + CONFIRM_TIMEOUT_MS;
      while ((publisher.publisher.index.get(`live/${name}`)?.replicas.size ?? 0) < REPLICAS) {
        if (Date.now() > stop) throw new Error(`live/${name} was not confirmed by ${REPLICAS} boxes in ${CONFIRM_TIMEOUT_MS / 1000} s`);
        await sleep(1);
      }
      project.recordValue(micros(t0));

      const source = path.join(scratch, name);
      writeFileSync(source, content);
      const r0 = process.hrtime.bigint();
      const r = spawnSync('sh', ['-c', 'cp "$1" "$2" && sha256sum "$2" > /dev/null', 'sh', source, copy]);
      reference.recordValue(micros(r0));
      if (r.status !== 0) throw new Error(`cp + sha256sum failed: ${r.stderr.toString()}`);
      rmSync(source);
      await sleep(GAP_MS);
    }
    const note = `${segments} segments of 2 MB, one at a time, ${REPLICAS} boxes (agents in their own processes); the publisher sends a file renamed into its folder at once (a file written in place waits until unchanged 120 ms)`;
    const row = (metric: string, pct: number, goalRatio?: number): Row => {
      const p = project.getValueAtPercentile(pct) / 1000;
      const r = reference.getValueAtPercentile(pct) / 1000;
      const goal = goalRatio === undefined ? 'report' : `ratio ≤ ${goalRatio}`;
      return { bench: 'replication', metric, unit: 'ms', project: p, reference: r, ratio: p / r, goal, pass: goalRatio === undefined || p / r <= goalRatio, note };
    };
    return [row('2 MB segment → 2 boxes p50', 50), row('2 MB segment → 2 boxes p95', 95, P95_GOAL_RATIO)];
  },
};
