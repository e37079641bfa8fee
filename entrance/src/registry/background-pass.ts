/**
 * The entrance's background pass, every ENTRANCE_SWEEP_FREQ: sweep boxes whose expiry passed, reload
 * the other entrances' URLs ({ID}:ENTRANCE_URLS, which operators may edit while it runs), forget boxes
 * and publishers silent for longer than their records are kept (every ten minutes: that costs reading
 * every summary), take the fleet rollout's next step (updates/rollouts.ts), and rewrite {ID}:OWN_INFO. One pass at a time: the next is scheduled only when this
 * one has finished, so a slow Redis never piles passes up.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../../../shared/src/log.js';
import { repeatAfterEach } from '../../../shared/src/repeat.js';
import type { EntranceKeys } from '../../../shared/src/redis-keys.js';
import type { OwnIdentity } from '../own-info.js';
import type { BoxRegistry } from './registry.js';
import type { BoxSummaries } from './box-summaries.js';
import type { PublisherRecords } from './publisher-records.js';
import type { Rollouts } from '../updates/rollouts.js';

/** How often boxes offline for longer than BOX_HISTORY_DAYS and silent publishers are forgotten. */
export const PRUNE_INTERVAL_MS = 10 * 60_000;

export interface BackgroundPassDeps {
  redis: Redis;
  keys: EntranceKeys;
  registry: Pick<BoxRegistry, 'sweep'>;
  summaries: Pick<BoxSummaries, 'prune'>;
  publisherRecords: Pick<PublisherRecords, 'expire'>;
  identity: Pick<OwnIdentity, 'ownInfo' | 'knowOtherEntrances'>;
  /** The fleet's rollout: its next step is decided here (several entrances may decide at once; it locks). */
  rollouts: Pick<Rollouts, 'decide'>;
  /** ENTRANCE_SWEEP_FREQ, in ms: the pause between the end of one pass and the start of the next. */
  everyMs: number;
  log: Logger;
}

export interface BackgroundPass {
  /** One pass now. */
  tick(): Promise<void>;
  /** Passes from now on, each `everyMs` after the last one ended; a failed pass is logged and the next one runs. */
  start(): void;
  stop(): void;
}

export function createBackgroundPass(deps: BackgroundPassDeps): BackgroundPass {
  const { redis, keys, log } = deps;
  let lastPrune = 0;

  async function tick(): Promise<void> {
    const removed = await deps.registry.sweep();
    if (removed > 0) log.info({ removed }, 'expired boxes removed');
    deps.identity.knowOtherEntrances((await redis.smembers(keys.entranceUrls)).sort());
    if (Date.now() - lastPrune > PRUNE_INTERVAL_MS) {
      lastPrune = Date.now();
      await deps.summaries.prune();
      await deps.publisherRecords.expire();
    }
    const step = await deps.rollouts.decide();
    if (step !== undefined) log.info({ step }, 'rollout stepped');
    const own = deps.identity.ownInfo();
    await redis.hset(keys.ownInfo, { ID: own.ID, IP: own.IP, PORT: String(own.PORT), TYPE: own.TYPE, URL: own.URL });
  }

  const passes = repeatAfterEach(tick, deps.everyMs, (err) => log.warn({ err }, 'background pass failed; will retry'));
  return { tick, start: passes.start, stop: passes.stop };
}
