/**
 * The entrance's handler context built from real parts on a test's own Redis, for tests of one entrance
 * module (handlers, background pass) without its HTTP server. `clock.now` moves time for every part.
 */
import type { Redis } from 'ioredis';
import { silentLogger } from '../../shared/src/log.js';
import { entranceKeys } from '../../shared/src/redis-keys.js';
import type { EntranceKeys } from '../../shared/src/redis-keys.js';
import type { HandlerContext } from '../../entrance/src/context.js';
import { createEntranceMetrics } from '../../entrance/src/metrics.js';
import { createOwnIdentity } from '../../entrance/src/own-info.js';
import type { OwnIdentity } from '../../entrance/src/own-info.js';
import { BoxSummaries } from '../../entrance/src/registry/box-summaries.js';
import { PublisherRecords } from '../../entrance/src/registry/publisher-records.js';
import { BoxRegistry } from '../../entrance/src/registry/registry.js';
import { createTrafficFolder } from '../../entrance/src/traffic/fold.js';
import { isKnownPublisher } from '../../entrance/src/traffic/known-publishers.js';
import { EnrolmentStore } from '../../entrance/src/enrolment/store.js';
import { Reachability } from '../../entrance/src/reachability/prober.js';
import { VerdictStore } from '../../entrance/src/reachability/store.js';
import { VouchedAddresses } from '../../entrance/src/handlers/vouched-address.js';
import { SearchRate } from '../../entrance/src/handlers/search-rate.js';
import { PublisherAccounts } from '../../entrance/src/publishers/accounts.js';
import { FleetKeys } from '../../entrance/src/trust/fleet-keys.js';
import { GRANT_SECONDS, PublisherTrust } from '../../entrance/src/trust/publisher-trust.js';
import { Quarantine } from '../../entrance/src/trust/quarantine.js';
import { trustKeys } from '../../shared/src/redis-keys.js';
import { Rollouts, rolloutBoxesOf } from '../../entrance/src/updates/rollouts.js';
import { releaseUrlOf } from '../../entrance/src/assemble.js';

export interface TestHandlerContext {
  ctx: HandlerContext;
  identity: OwnIdentity;
  keys: EntranceKeys;
  clock: { now: number };
  /** The fleet's rollout, as the background pass decides it. */
  rollouts: Rollouts;
}

export function handlerContext(redis: Redis, opts: { id?: string; historyDays?: number; requireEnrolment?: boolean; requirePublisherAuth?: boolean; requireReachable?: boolean; boxDomain?: string } = {}): TestHandlerContext {
  const id = opts.id ?? 'entrance-test';
  const clock = { now: 1_700_000_000_000 };
  const now = (): number => clock.now;
  const log = silentLogger();
  const keys = entranceKeys(id);
  const identity = createOwnIdentity(
    { BASE_URL: '/dandelion', WEBSOCKET_URL: '/ws', ENTRANCE_URL: undefined, ENTRANCE_IP: '127.0.0.1', ENTRANCE_PORT: 7070, ENTRANCE_OTHER_URLS: [] },
    id,
  );
  const registry = new BoxRegistry({ redis, keys, expireSeconds: 120, requireReachable: opts.requireReachable ?? false, log, now });
  const knownPublisher = (publisherId: string): Promise<boolean> => isKnownPublisher(redis, keys, publisherId);
  const verdicts = new VerdictStore({ redis, expireSeconds: 120, now });
  const rollouts = new Rollouts({ redis, activeSeconds: 120, now, releaseUrl: (version, arch) => releaseUrlOf(identity.ownInfo().URL, '/dandelion', version, arch), boxes: rolloutBoxesOf(registry, verdicts) });
  const ctx: HandlerContext = {
    id,
    ownInfo: identity.ownInfo,
    entranceUrls: identity.entranceUrls,
    config: { REQUIRE_ENROLMENT: opts.requireEnrolment ?? false, REQUIRE_PUBLISHER_AUTH: opts.requirePublisherAuth ?? false, AMOUNT_OF_BOXES_PER_REQUEST: 10, BOX_DOMAIN: opts.boxDomain ?? '' },
    registry,
    summaries: new BoxSummaries({ redis, keys, historyDays: opts.historyDays ?? 7, now }),
    publisherRecords: new PublisherRecords({ redis, keys, recordSeconds: 86_400, maxRecords: 100, now }),
    traffic: createTrafficFolder({ redis, config: { TRAFFIC_MINUTE_DAYS: 1, TRAFFIC_HOUR_DAYS: 7, TRAFFIC_DAY_DAYS: 30, TRAFFIC_DEDUPE_DAYS: 7 }, isKnownPublisher: knownPublisher, log, now }),
    reachability: new Reachability({ now }),
    verdicts,
    vouchedAddresses: new VouchedAddresses(undefined, now),
    enrolment: new EnrolmentStore(redis, now),
    publisherAccounts: new PublisherAccounts(redis, now),
    searchRate: new SearchRate(now),
    trust: new PublisherTrust({
      redis, keys: trustKeys(), required: opts.requirePublisherAuth ?? false,
      fleetKeys: new FleetKeys({ redis, keys: trustKeys(), grantSeconds: GRANT_SECONDS, now }),
      now,
    }),
    quarantine: new Quarantine({ redis, keys, trust: trustKeys(), now }),
    metrics: createEntranceMetrics({ redis, boxes: registry, isKnownPublisher: knownPublisher, openSockets: () => 0, tokenHash: undefined, open: true, log }),
    // Certificates need an ACME CA: tests of CERTIFY start a whole entrance against pebble (test/helpers/pebble.ts).
    certificates: undefined,
    rollouts,
  };
  return { ctx, identity, keys, clock, rollouts };
}
