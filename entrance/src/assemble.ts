/**
 * The entrance's parts without its servers: the registry and the records the handlers write, the
 * dashboard's read side, enrolment, metrics, the revocation watch and the background pass, wired to one
 * Redis and one identity. app.ts adds the HTTP server and the WebSocket endpoint around them.
 */
import type { Redis } from 'ioredis';
import type { EntranceConfig } from '../../shared/src/config/schemas.js';
import type { Logger } from '../../shared/src/log.js';
import { trustedProxies } from '../../shared/src/peer-address.js';
import { keyLayoutOf } from '../../shared/src/redis.js';
import { entranceKeys, trustKeys } from '../../shared/src/redis-keys.js';
import type { EntranceKeys } from '../../shared/src/redis-keys.js';
import type { EntranceServices, HandlerContext } from './context.js';
import { Fleet } from './dashboard/fleet.js';
import { Publishers } from './dashboard/publishers.js';
import { Challenges } from './enrolment/challenge.js';
import { RevocationWatch } from './enrolment/revocation-watch.js';
import { EnrolmentStore } from './enrolment/store.js';
import { createEntranceMetrics } from './metrics.js';
import { createOwnIdentity } from './own-info.js';
import type { OwnIdentity } from './own-info.js';
import { Reachability } from './reachability/prober.js';
import { VerdictStore } from './reachability/store.js';
import { VouchedAddresses } from './handlers/vouched-address.js';
import { SearchRate } from './handlers/search-rate.js';
import { PublisherAccounts, publisherAccount } from './publishers/accounts.js';
import { createBackgroundPass } from './registry/background-pass.js';
import { createLiveEntrances } from './fleet/live-entrances.js';
import type { LiveEntrances } from './fleet/live-entrances.js';
import type { BackgroundPass } from './registry/background-pass.js';
import { BoxSummaries } from './registry/box-summaries.js';
import { PublisherRecords } from './registry/publisher-records.js';
import { BoxRegistry } from './registry/registry.js';
import { Quarantine } from './trust/quarantine.js';
import { createTrafficFolder } from './traffic/fold.js';
import { isKnownPublisher } from './traffic/known-publishers.js';
import { FleetKeys } from './trust/fleet-keys.js';
import { DEFAULT_GRANT_QUOTA_BYTES, GRANT_SECONDS, PublisherTrust } from './trust/publisher-trust.js';
import { AcmeIssuer } from './acme/issuer.js';
import { CertifyRate } from './acme/certify-rate.js';
import { ReleaseStore } from './updates/release-store.js';
import { releasePath } from './updates/release-routes.js';
import { Rollouts, rolloutBoxesOf } from './updates/rollouts.js';
import { trustedReleaseKeys } from '../../shared/src/release/trusted-keys.js';
import type { ReleaseKeys } from '../../shared/src/release/trusted-keys.js';

export interface PartsDeps {
  config: EntranceConfig;
  id: string;
  redis: Redis;
  log: Logger;
  now?: () => number;
  /** WebSocket connections open now, read when /metrics is scraped. */
  openSockets(): number;
  /** The release keys uploads are checked with (default: trustedReleaseKeys, the ones boxes trust); tests name their own. */
  releaseKeys?: () => ReleaseKeys;
}

export interface EntranceParts {
  identity: OwnIdentity;
  ctx: HandlerContext;
  services: EntranceServices;
  challenges: Challenges;
  revocations: RevocationWatch;
  background: BackgroundPass;
  /** This entrance in its fleet's list of live entrances, and the others it tells peers about. */
  liveEntrances: LiveEntrances;
  /** Keys of this entrance itself (OWN_INFO, ENTRANCE_URLS), whatever fleet it is in. */
  ownKeys: EntranceKeys;
}

export function assembleEntrance(deps: PartsDeps): EntranceParts {
  const { config, id, redis, log } = deps;
  const now = deps.now ? { now: deps.now } : {};
  // The registry, dashboard sessions and publisher records are the fleet's, shared by its entrances; what
  // says who this entrance is and whom it names (OWN_INFO, ENTRANCE_URLS) stays its own. On a Redis Cluster
  // the keys are hash-tagged and the registry sharded (redis-keys.ts, docs/scale.md).
  const layout = keyLayoutOf(config);
  const fleet = config.FLEET_ID ?? id;
  const keys = entranceKeys(fleet, layout);
  const ownKeys = entranceKeys(id, layout);
  const trustKeysHere = trustKeys(layout);
  const identity = createOwnIdentity(config, id);
  const registry = new BoxRegistry({ redis, keys, expireSeconds: config.ENTRANCE_EXPIRE_BOX_TIME, requireReachable: config.REQUIRE_REACHABLE, log: log.child({ mod: 'registry' }), ...now });
  const verdicts = new VerdictStore({ redis, expireSeconds: config.ENTRANCE_EXPIRE_BOX_TIME, ...now });
  const summaries = new BoxSummaries({ redis, keys, historyDays: config.BOX_HISTORY_DAYS, ...now });
  const publisherRecords = new PublisherRecords({ redis, keys, recordSeconds: config.PUBLISHER_RECORD_DAYS * 86_400, maxRecords: config.MAX_PUBLISHER_RECORDS, ...now });
  const enrolment = new EnrolmentStore(redis, deps.now);
  // Traffic is counted, and shown per publisher on /metrics, only for publishers this says are known.
  const knownPublisher = (publisherId: string): Promise<boolean> => isKnownPublisher(redis, keys, publisherId);
  const metrics = createEntranceMetrics({ redis, boxes: registry, isKnownPublisher: knownPublisher, openSockets: deps.openSockets, tokenHash: config.METRICS_TOKEN, open: config.METRICS_PUBLIC, log: log.child({ mod: 'metrics' }) });
  const publisherAccounts = new PublisherAccounts(redis, deps.now);
  const fleetKeys = new FleetKeys({ redis, keys: trustKeysHere, grantSeconds: GRANT_SECONDS, ...now });
  const trust = new PublisherTrust({ redis, keys: trustKeysHere, fleetKeys, required: config.REQUIRE_PUBLISHER_AUTH,
    // A grant carries the quota of the publisher's account.
    quotaBytes: async (publisherId) => (await publisherAccount(redis, publisherId))?.quotaBytes ?? DEFAULT_GRANT_QUOTA_BYTES, ...now });
  const quarantine = new Quarantine({ redis, keys, trust: trustKeysHere, ...now });
  const who = { id, ownInfo: identity.ownInfo, entranceUrls: identity.entranceUrls };
  // Updates over the air (docs/updates.md). WIRING POINT of the trusted release keys: trustedReleaseKeys.
  const releases = new ReleaseStore(redis, deps.releaseKeys ?? trustedReleaseKeys);
  const rollouts = new Rollouts({ redis, activeSeconds: config.ENTRANCE_EXPIRE_BOX_TIME, ...now,
    releaseUrl: (version, arch) => releaseUrlOf(identity.ownInfo().URL, config.BASE_URL, version, arch),
    boxes: rolloutBoxesOf(registry, verdicts) });
  const ctx: HandlerContext = {
    ...who, config, registry, summaries, publisherRecords, enrolment, publisherAccounts, quarantine, metrics, trust, rollouts,
    searchRate: new SearchRate(deps.now),
    traffic: createTrafficFolder({ redis, config, isKnownPublisher: knownPublisher, log: log.child({ mod: 'traffic' }), ...now }),
    reachability: new Reachability(deps.now ? { now: deps.now } : {}),
    verdicts,
    vouchedAddresses: new VouchedAddresses(undefined, deps.now),
    certificates: config.BOX_DOMAIN === '' ? undefined : {
      domain: config.BOX_DOMAIN,
      issuer: new AcmeIssuer({ redis, directoryUrl: config.ACME_DIRECTORY_URL, caFile: config.ACME_CA_FILE, email: config.ACME_EMAIL, log: log.child({ mod: 'acme' }) }),
      rate: new CertifyRate(redis),
    },
  };
  const services: EntranceServices = {
    ...who, config, redis, keys, registry, verdicts, enrolment, publisherAccounts, quarantine, metrics, log, releases, rollouts,
    fleet: new Fleet({ redis, keys, staleSeconds: config.BOX_STALE_TIME, quarantine, verdicts, ...now }),
    publishers: new Publishers({ redis, keys, records: publisherRecords }),
    trustedProxies: trustedProxies(config.TRUSTED_PROXIES),
  };
  return {
    identity,
    ctx,
    services,
    challenges: new Challenges(redis, deps.now),
    revocations: new RevocationWatch({ redis, registry, log }),
    ownKeys,
    liveEntrances: createLiveEntrances({ redis, fleet, identity, everyMs: config.ENTRANCE_SWEEP_FREQ * 1000, log: log.child({ mod: 'fleet' }), ...now }),
    // The pass reads ENTRANCE_URLS and writes OWN_INFO: this entrance's own keys.
    background: createBackgroundPass({ redis, keys: ownKeys, registry, summaries, publisherRecords, identity, rollouts, everyMs: config.ENTRANCE_SWEEP_FREQ * 1000, log: log.child({ mod: 'sweep' }) }),
  };
}

/**
 * Where a box downloads a release from this entrance: the HTTP(S) origin of its own URL (ENTRANCE_URL, or the
 * bind address), which boxes already reach, and BASE_URL.
 */
export function releaseUrlOf(ownUrl: string, baseUrl: string, version: string, arch: string): string {
  const ws = new URL(ownUrl);
  const scheme = ws.protocol === 'wss:' || ws.protocol === 'https:' ? 'https:' : 'http:';
  return `${scheme}//${ws.host}${releasePath(baseUrl.replace(/\/+$/, ''), version, arch)}`;
}
