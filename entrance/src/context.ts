/** What the entrance's handlers share: its config, identity, registry, traffic counters and the URLs it tells peers. */
import type { Redis } from 'ioredis';
import type { EntranceConfig } from '../../shared/src/config/schemas.js';
import type { Logger } from '../../shared/src/log.js';
import type { Envelope } from '../../shared/src/protocol/index.js';
import type { EntranceKeys } from '../../shared/src/redis-keys.js';
import type { EntranceMetrics } from './metrics.js';
import type { BoxRegistry } from './registry/registry.js';
import type { Fleet } from './dashboard/fleet.js';
import type { Publishers } from './dashboard/publishers.js';
import type { TrafficFolder } from './traffic/fold.js';
import type { EnrolmentStore } from './enrolment/store.js';
import type { Reachability } from './reachability.js';
import type { TrustedProxies } from '../../shared/src/peer-address.js';

export interface OwnInfo extends Envelope {
  TYPE: 'ENTRANCE';
  URL: string;
}

export interface EntranceState {
  config: EntranceConfig;
  id: string;
  redis: Redis;
  keys: EntranceKeys;
  registry: BoxRegistry;
  /** The dashboard's view of the boxes (summaries, history). */
  fleet: Fleet;
  /** Publishers that searched here, and what their origins served. */
  publishers: Publishers;
  /** Counts each EXCHANGE's TRAFFIC_AGGREGATES once, fleet-wide. */
  traffic: TrafficFolder;
  /** Whether boxes' viewer ports answer at their public address. */
  reachability: Reachability;
  /** Fleet tokens and enrolled boxes (fleet-wide). */
  enrolment: EnrolmentStore;
  /** Prometheus counters the handlers feed, served at /metrics. */
  metrics: EntranceMetrics;
  log: Logger;
  /** TRUSTED_PROXIES: whose forwarded headers name the client (every peer's address comes through remoteIpOf with it). */
  trustedProxies: TrustedProxies;
  ownInfo(): OwnInfo;
  /** This entrance's URL first, then the others from {ID}:ENTRANCE_URLS. */
  entranceUrls(): string[];
}
