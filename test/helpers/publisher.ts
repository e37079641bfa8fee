/**
 * A publisher built in-process on a free loopback port, its config read through the real loader. It gets an
 * account at its entrances and its token as ENROLMENT_TOKEN, as an operator would give it (publisher-account.ts);
 * `account: false` starts one without, as an original publisher.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadRoleConfig } from '../../shared/src/config/load.js';
import { silentLogger } from '../../shared/src/log.js';
import type { Logger } from '../../shared/src/log.js';
import { connectRedis } from '../../shared/src/redis.js';
import { createPublisher } from '../../publisher/src/app.js';
import type { Publisher } from '../../publisher/src/app.js';
import { publisherToken } from './publisher-account.js';

export interface RunningPublisher {
  publisher: Publisher;
  id: string;
  base: string;
  watchDirectory: string;
  configEnv: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * A test publisher's config as DANDELION_* variables, for one in this process or a child process: its
 * folders under `dir`, loopback only, the kernel's choice of port, a fast heartbeat. `redisClusterNodes`
 * (RedisClusterServer.nodesEnv): the publisher's Redis is that cluster, and REDIS_URL is ignored (the
 * entrances' Redis, where its account is made, is still the one of `redisUrl` or startEntrance's).
 */
export function testPublisherEnv(opts: { id: string; redisUrl: string; redisClusterNodes?: string; entranceUrls: string[]; dir: string; env?: Record<string, string> }): Record<string, string> {
  return {
    DANDELION_ID: opts.id,
    DANDELION_REDIS_URL: opts.redisUrl,
    ...(opts.redisClusterNodes !== undefined ? { DANDELION_REDIS_CLUSTER_NODES: opts.redisClusterNodes } : {}),
    DANDELION_ENTRANCE_URLS: JSON.stringify(opts.entranceUrls),
    DANDELION_PUBLISHER_HTTP_IP: '127.0.0.1',
    DANDELION_PUBLISHER_HTTP_PORT: '0',
    DANDELION_PUBLISHER_WATCH_DIRECTORY: path.join(opts.dir, 'live'),
    DANDELION_RUN_DIRECTORY: path.join(opts.dir, 'run'),
    DANDELION_PUBLISHER_PING_ENTRANCE_FREQ: '0.5',
    // No metrics server unless the test asks for one: several run in one process.
    DANDELION_METRICS_PORT: '0',
    ...opts.env,
  };
}

export async function startPublisher(
  t: { teardown(fn: () => unknown): void },
  opts: { redisUrl: string; redisClusterNodes?: string; entranceUrls: string[]; id?: string; env?: Record<string, string>; log?: Logger; account?: boolean },
): Promise<RunningPublisher> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dandelion-publisher-'));
  const id = opts.id ?? 'publisher-test';
  const configEnv = testPublisherEnv({
    id, redisUrl: opts.redisUrl, entranceUrls: opts.entranceUrls, dir,
    ...(opts.redisClusterNodes !== undefined ? { redisClusterNodes: opts.redisClusterNodes } : {}),
    env: { ...(opts.account === false ? {} : { DANDELION_ENROLMENT_TOKEN: await publisherToken(id, opts.entranceUrls, opts.redisUrl) }), ...opts.env },
  });
  const { config } = loadRoleConfig('publisher', undefined, configEnv);
  const log = opts.log ?? silentLogger();
  const redis = await connectRedis(config, log);
  const publisher = createPublisher({ config, redis, publisherId: id, log });
  const { viewerUrl } = await publisher.start();
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await publisher.stop();
    redis.disconnect();
  };
  t.teardown(stop);
  return { publisher, id, base: viewerUrl.replace(/\/$/, ''), watchDirectory: config.PUBLISHER_WATCH_DIRECTORY, configEnv, stop };
}
