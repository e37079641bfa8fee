/**
 * The live entrances of this entrance's fleet (FLEET_ID), so each can name the others in ENTRANCE_URLS and
 * boxes and publishers fail over to them. Each entrance keeps its own URL in {FLEET}:ENTRANCES with an
 * expiry a few passes ahead and refreshes it every ENTRANCE_SWEEP_FREQ: an entrance killed without a
 * chance to withdraw drops out on its own once its entry expires, and no entrance needs to know the others'
 * addresses in advance (they may come and go behind a load balancer).
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../../../shared/src/log.js';
import { fleetKeys } from '../../../shared/src/redis-keys.js';
import { repeatAfterEach } from '../../../shared/src/repeat.js';
import type { OwnIdentity } from '../own-info.js';

/** An entry counts as live for this many passes after it was written, so one slow pass does not drop it. */
const LIVE_FOR_PASSES = 3;
/** ...and never for less than this, so a fast sweep (tests, 0.1 s) does not make entrances flicker in and out. */
const MIN_LIVE_SECONDS = 15;

export interface LiveEntrancesDeps {
  redis: Redis;
  /** FLEET_ID, else this entrance's ID. */
  fleet: string;
  identity: Pick<OwnIdentity, 'ownInfo' | 'knowFleetEntrances'>;
  /** ENTRANCE_SWEEP_FREQ, in ms. */
  everyMs: number;
  log: Logger;
  now?: () => number;
}

export interface LiveEntrances {
  /** Refresh this entrance's entry, forget expired ones and tell the identity the live ones. */
  tick(): Promise<void>;
  start(): void;
  /** Stop refreshing and withdraw this entrance's entry (a clean stop: the others stop naming it at once). */
  stop(): Promise<void>;
}

export function createLiveEntrances(deps: LiveEntrancesDeps): LiveEntrances {
  const { redis, log } = deps;
  const keys = fleetKeys(deps.fleet);
  const liveSeconds = Math.max(MIN_LIVE_SECONDS, (LIVE_FOR_PASSES * deps.everyMs) / 1000);
  const nowSeconds = (): number => (deps.now ?? Date.now)() / 1000;

  async function tick(): Promise<void> {
    const now = nowSeconds();
    const { URL: url } = deps.identity.ownInfo();
    const replies = await redis.multi()
      .zadd(keys.entrances, now + liveSeconds, url)
      .zremrangebyscore(keys.entrances, '-inf', now)
      .zrangebyscore(keys.entrances, now, '+inf')
      .exec();
    const live = replies?.[2]?.[1];
    if (Array.isArray(live)) deps.identity.knowFleetEntrances(live.filter((u): u is string => typeof u === 'string').sort());
  }

  const refreshes = repeatAfterEach(tick, deps.everyMs, (err) => log.warn({ err }, 'could not refresh the fleet\'s live entrances; will retry'));
  return {
    tick,
    start: refreshes.start,
    async stop() {
      refreshes.stop();
      // With Redis away the entry expires on its own: stopping must not wait for a reconnect.
      if (redis.status !== 'ready') return;
      await redis.zrem(keys.entrances, deps.identity.ownInfo().URL).catch((err: unknown) => log.warn({ err }, 'could not withdraw from the fleet\'s live entrances; it expires on its own'));
    },
  };
}
