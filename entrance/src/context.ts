/**
 * What the entrance's parts are handed, one interface per concern: the message handlers get the
 * services EXCHANGE and SEARCH write to (HandlerContext); the HTTP pages and the dashboard get what they
 * read (EntranceServices). Both know the entrance's own identity (own-info.ts).
 */
import type { Redis } from 'ioredis';
import type { EntranceConfig } from '../../shared/src/config/schemas.js';
import type { Logger } from '../../shared/src/log.js';
import type { EntranceKeys } from '../../shared/src/redis-keys.js';
import type { TrustedProxies } from '../../shared/src/peer-address.js';
import type { EntranceMetrics } from './metrics.js';
import type { EntranceIdentity } from './own-info.js';
import type { BoxRegistry } from './registry/registry.js';
import type { BoxSummaries } from './registry/box-summaries.js';
import type { PublisherRecords } from './registry/publisher-records.js';
import type { Fleet } from './dashboard/fleet.js';
import type { Publishers } from './dashboard/publishers.js';
import type { TrafficFolder } from './traffic/fold.js';
import type { EnrolmentStore } from './enrolment/store.js';
import type { Reachability } from './reachability/prober.js';
import type { VerdictStore } from './reachability/store.js';
import type { VouchedAddresses } from './handlers/vouched-address.js';
import type { SearchRate } from './handlers/search-rate.js';
import type { PublisherAccounts } from './publishers/accounts.js';
import type { PublisherTrust } from './trust/publisher-trust.js';
import type { Quarantine } from './trust/quarantine.js';
import type { AcmeIssuer } from './acme/issuer.js';
import type { CertifyRate } from './acme/certify-rate.js';
import type { ReleaseStore } from './updates/release-store.js';
import type { Rollouts } from './updates/rollouts.js';

export type { EntranceIdentity, OwnInfo } from './own-info.js';

/** What EXCHANGE and SEARCH use: what they write, the counters they feed, and the URLs they tell peers. */
export interface HandlerContext extends EntranceIdentity {
  config: Pick<EntranceConfig, 'REQUIRE_ENROLMENT' | 'REQUIRE_PUBLISHER_AUTH' | 'AMOUNT_OF_BOXES_PER_REQUEST' | 'BOX_DOMAIN'>;
  registry: BoxRegistry;
  /** The dashboard's record of each box (summary, history), written on every EXCHANGE. */
  summaries: BoxSummaries;
  /** Publishers that searched here, and what their origins served, written on every SEARCH. */
  publisherRecords: PublisherRecords;
  /** Counts each EXCHANGE's TRAFFIC_AGGREGATES once, fleet-wide. */
  traffic: TrafficFolder;
  /** Whether boxes' ports answer at the address their sockets come from (background probes). */
  reachability: Reachability;
  /** Each box's reachability verdict, fleet-wide, for SEARCH and the dashboards. */
  verdicts: VerdictStore;
  /** Whether the URLs a box announces name the box itself. */
  vouchedAddresses: VouchedAddresses;
  /** Fleet tokens and enrolled boxes (fleet-wide). */
  enrolment: EnrolmentStore;
  /** Publisher accounts (fleet-wide): who may SEARCH. */
  publisherAccounts: PublisherAccounts;
  /** SEARCHes each publisher may still make now. */
  searchRate: SearchRate;
  /** Grants for SEARCH replies; fleet keys and revoked publishers for EXCHANGE replies. */
  trust: PublisherTrust;
  /** Boxes publishers caught serving altered files, which SEARCH leaves out (fleet-wide). */
  quarantine: Quarantine;
  /** Prometheus counters the handlers feed, served at /metrics. */
  metrics: EntranceMetrics;
  /** The fleet's rollout: what to offer a box that reports its AGENT_VERSION (updates/rollouts.ts). */
  rollouts: Pick<Rollouts, 'offerFor'>;
  /** With BOX_DOMAIN: the boxes' certificates (CERTIFY): the ACME CA's client and the per-box limits. Undefined without. */
  certificates: BoxCertificates | undefined;
}

export interface BoxCertificates {
  /** BOX_DOMAIN. */
  domain: string;
  issuer: AcmeIssuer;
  rate: CertifyRate;
}

/** What the HTTP pages, /metrics and the dashboard use. */
export interface EntranceServices extends EntranceIdentity {
  config: EntranceConfig;
  redis: Redis;
  keys: EntranceKeys;
  registry: BoxRegistry;
  /** Each box's reachability verdict, shown with it. */
  verdicts: VerdictStore;
  /** The dashboard's view of the boxes (summaries, history). */
  fleet: Fleet;
  /** The dashboard's view of the publishers. */
  publishers: Publishers;
  enrolment: EnrolmentStore;
  publisherAccounts: PublisherAccounts;
  quarantine: Quarantine;
  metrics: EntranceMetrics;
  log: Logger;
  /** Agent releases (uploads, downloads) and the fleet's rollout of one (docs/updates.md). */
  releases: ReleaseStore;
  rollouts: Rollouts;
  /** TRUSTED_PROXIES: whose forwarded headers name the client (every peer's address comes through remoteIpOf with it). */
  trustedProxies: TrustedProxies;
}
