/** An entrance built in-process on a free loopback port, with its config read through the real loader. */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadRoleConfig } from '../../shared/src/config/load.js';
import { silentLogger } from '../../shared/src/log.js';
import { connectRedis } from '../../shared/src/redis.js';
import { createEntrance } from '../../entrance/src/app.js';
import type { Entrance } from '../../entrance/src/app.js';
import { resolveEntranceId } from '../../entrance/src/identity.js';
import { rememberEntrance } from './publisher-account.js';
import type { ReleaseKeys } from '../../shared/src/release/trusted-keys.js';

/** Entrance env for tests whose boxes are real agents (nginx, the agent's socket server): SEARCH lists only boxes it reached. */
export const REAL_BOXES: Readonly<Record<string, string>> = { DANDELION_REQUIRE_REACHABLE: 'true' };

export interface RunningEntrance {
  entrance: Entrance;
  url: string;
  /** The DNS port, when the entrance has a BOX_DOMAIN. */
  dnsPort?: number;
  id: string;
  runDirectory: string;
  stop(): Promise<void>;
}

export async function startEntrance(
  t: { teardown(fn: () => unknown): void },
  opts: { redisUrl: string; env?: Record<string, string>; runDirectory?: string; now?: () => number; releaseKeys?: ReleaseKeys },
): Promise<RunningEntrance> {
  const runDirectory = opts.runDirectory ?? mkdtempSync(path.join(os.tmpdir(), 'dandelion-entrance-'));
  const { config } = loadRoleConfig('entrance', undefined, {
    DANDELION_ENTRANCE_IP: '127.0.0.1',
    DANDELION_ENTRANCE_PORT: '0',
    DANDELION_REDIS_URL: opts.redisUrl,
    DANDELION_RUN_DIRECTORY: runDirectory,
    // Most tests speak for boxes without keys, as original clients do; enrolment tests and e2e turn it on.
    DANDELION_REQUIRE_ENROLMENT: 'false',
    // Most tests' boxes are raw sockets whose HTTP_URL nobody serves: they could never be listed by SEARCH.
    // Tests with real agents (nginx, the agent's own server) and the reachability tests turn it on.
    DANDELION_REQUIRE_REACHABLE: 'false',
    ...opts.env,
  });
  const log = silentLogger();
  const redis = await connectRedis(config, log);
  const id = await resolveEntranceId(config.ID, runDirectory);
  const { releaseKeys } = opts;
  const entrance = createEntrance({ config, id, redis, log, ...(opts.now ? { now: opts.now } : {}), ...(releaseKeys ? { releaseKeys: () => releaseKeys } : {}) });
  const { url, dnsPort } = await entrance.listen();
  // So startPublisher makes its account where this entrance looks (REQUIRE_PUBLISHER_AUTH is on by default).
  rememberEntrance(url, config.REDIS_URL ?? opts.redisUrl);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await entrance.stop();
    redis.disconnect();
  };
  t.teardown(stop);
  return { entrance, url, ...(dnsPort === undefined ? {} : { dnsPort }), id, runDirectory, stop };
}
