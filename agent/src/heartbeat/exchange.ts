/**
 * What one EXCHANGE carries: the box's envelope and URLs, the latest readings, the files it holds, its
 * capacity and idle upload, its place and status, then the traffic waiting to go. composeExchange and
 * attachTraffic decide the content from plain inputs; ExchangeBuilder gathers those inputs and keeps a
 * copy (without traffic) in {ID}:SELF_EXCHANGE for tools that read it.
 */
import type { Redis } from 'ioredis';
import { toHash } from '../../../shared/src/protocol/index.js';
import type { BoxExchange, Envelope, GeoIp } from '../../../shared/src/protocol/index.js';
import type { BoxKeys } from '../../../shared/src/redis-keys.js';
import type { KnownCapacity } from '../bandwidth/budget.js';
import { roundMbit } from '../bandwidth/policy.js';
import type { Readings } from '../platform/readings.js';
import type { CollectedTraffic } from '../traffic/outbox.js';
import type { HouseholdExchangeFields } from '../household/exchange-fields.js';
import type { ErrorCountFields } from './error-counts.js';

/** Records and their aggregates sent with one EXCHANGE; the rest follow with later heartbeats. */
export const MAX_RECORDS_PER_EXCHANGE = 100;

export interface ExchangeInputs {
  envelope: Envelope;
  connectWs: string;
  httpUrl: string;
  /** Where viewers on HTTPS pages fetch the box's files (undefined until a certificate is served). */
  httpsUrl?: string | undefined;
  readings: Readings;
  version: string;
  filesHeld: number;
  capacity: KnownCapacity | undefined;
  idleUpMbit: number | undefined;
  geoip: GeoIp | undefined;
  status: string;
  reachability: BoxReachability;
  /** PAUSED, PAUSED_UNTIL, UPLOAD_CAP_MBIT, QUOTA_GB, QUOTA_USED_GB (household/exchange-fields.ts). */
  household?: HouseholdExchangeFields;
  /** The rate the box's own shaping gives viewers now (HOUSEHOLD_YIELD), undefined when it does not shape. */
  viewerRateMbit?: number | undefined;
  /** AGENT_VERSION, AGENT_ARCH, AGENT_PREVIOUS_VERSION, UPDATE_FAILED, UPDATE_FAILED_REASON (update/updater.ts). */
  update?: Pick<BoxExchange, 'AGENT_VERSION' | 'AGENT_ARCH' | 'AGENT_PREVIOUS_VERSION' | 'UPDATE_FAILED' | 'UPDATE_FAILED_REASON'>;
  /** SERVE-ERRORS, AGENT-ERRORS, AGENT-UPTIME (heartbeat/error-counts.ts). */
  errorCounts?: ErrorCountFields;
}

/** What the box knows of its home network: LAN_IP, PORT_MAPPING, PORT_MAPPING_ERROR, ROUTER_EXTERNAL_IP. */
export type BoxReachability = Pick<BoxExchange, 'LAN_IP' | 'PORT_MAPPING' | 'PORT_MAPPING_ERROR' | 'ROUTER_EXTERNAL_IP'>;

/** The EXCHANGE without its traffic. */
export function composeExchange(i: ExchangeInputs): BoxExchange {
  const msg: BoxExchange = { ...i.envelope, TYPE: 'BOX', COMMAND: 'EXCHANGE', CONNECT_WS: i.connectWs, HTTP_URL: i.httpUrl, ...i.readings, VERSION: i.version };
  if (i.httpsUrl !== undefined) msg.HTTPS_URL = i.httpsUrl;
  msg['FILES-HELD'] = i.filesHeld;
  if (i.capacity) {
    msg['BANDWIDTH-UP'] = roundMbit(i.capacity.upMbit);
    msg['BANDWIDTH-DOWN'] = roundMbit(i.capacity.downMbit);
  }
  if (i.idleUpMbit !== undefined) msg['BANDWIDTH-IDLE-UP'] = roundMbit(i.idleUpMbit);
  if (i.viewerRateMbit !== undefined) msg.VIEWER_RATE_MBIT = roundMbit(i.viewerRateMbit);
  if (i.geoip) msg.GEOIP = i.geoip;
  msg.STATUS = i.status;
  for (const [key, value] of Object.entries(i.reachability)) if (value !== undefined) msg[key] = value;
  if (i.household) Object.assign(msg, i.household);
  if (i.update) Object.assign(msg, i.update);
  if (i.errorCounts) Object.assign(msg, i.errorCounts);
  return msg;
}

/** `msg` with the traffic records beside its fields and the aggregates under TRAFFIC_AGGREGATES (when any). */
export function attachTraffic(msg: BoxExchange, traffic: CollectedTraffic): BoxExchange {
  const out: BoxExchange = { ...msg, ...traffic.records };
  if (traffic.aggregates.length > 0) out.TRAFFIC_AGGREGATES = traffic.aggregates;
  return out;
}

export interface ExchangeBuilderDeps {
  redis: Redis;
  keys: BoxKeys;
  /** The readings of this moment (shared between entrances within half a period). */
  sample(): Promise<Readings>;
  /** Everything else of the EXCHANGE but the readings and the files held, as of now. */
  current(): Omit<ExchangeInputs, 'readings' | 'filesHeld'>;
  /** The traffic waiting to go (the tail's outbox). */
  collect(maxRecords: number): Promise<CollectedTraffic>;
}

export class ExchangeBuilder {
  constructor(private readonly deps: ExchangeBuilderDeps) {}

  /** The EXCHANGE the next heartbeat sends; its copy without traffic is stored in {ID}:SELF_EXCHANGE. */
  async build(): Promise<BoxExchange> {
    const { redis, keys } = this.deps;
    const readings = await this.deps.sample();
    const msg = composeExchange({ ...this.deps.current(), readings, filesHeld: await redis.zcard(keys.expireFiles) });
    await redis.multi().del(keys.selfExchange).hset(keys.selfExchange, toHash(msg)).exec();
    return attachTraffic(msg, await this.deps.collect(MAX_RECORDS_PER_EXCHANGE));
  }
}
