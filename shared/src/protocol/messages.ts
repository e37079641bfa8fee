/**
 * Every JSON message of the Dandelion protocol: EXCHANGE, SEARCH and PUBLISH with their replies, and
 * the FILE acknowledgement a box sends for each stored file. Messages stay flat, keyed as the original's
 * README wrote them, so its clients still work (docs/compatibility.md); a decoder turns untrusted JSON into one of these types or throws a ProtocolError, and code
 * past the decoder trusts the types.
 */
import net from 'node:net';
import { ProtocolError, isErrorCode } from './errors.js';
import type { ErrorCode } from './errors.js';
import {
  Limits,
  checkKeyCount,
  isEmpty,
  isOneOf,
  optionalNumber,
  optionalRecord,
  optionalString,
  requirePem,
  requireString,
  toHost,
  toNumber,
  toHttpUrl,
  toHttpsUrl,
  toPort,
  toWsUrl,
} from './fields.js';
import { isRecord, parseJsonSafe } from './json.js';
import { MAX_RELEASE_CHARS, RELEASE_ARCHES, isVersion } from '../release/manifest.js';

export const PEER_TYPES = ['BOX', 'PUBLISHER', 'ENTRANCE'] as const;
export type PeerType = (typeof PEER_TYPES)[number];

export const ID_PREFIX: Readonly<Record<PeerType, string>> = {
  BOX: 'box-',
  PUBLISHER: 'publisher-',
  ENTRANCE: 'entrance-',
};
/** After the prefix: what a Redis key segment and a folder name can hold safely (no ':' or '/'). */
const ID_BODY = /^[A-Za-z0-9_.-]+$/;

export const COMMANDS = ['EXCHANGE', 'SEARCH', 'PUBLISH', 'FILE', 'CERTIFY'] as const;
export type Command = (typeof COMMANDS)[number];

/** The four keys every message carries (the original's rule). PORT may be absent for publishers. */
export interface Envelope {
  ID: string;
  IP: string;
  PORT?: number;
  TYPE: PeerType;
}

/** Where an address is, as the original took it from ipinfo: LOC is "lat,lon". */
export interface GeoIp {
  IP?: string;
  HOSTNAME?: string;
  COUNTRY?: string;
  CITY?: string;
  REGION?: string;
  ORG?: string;
  LOC?: string;
}
export const GEOIP_KEYS = ['IP', 'HOSTNAME', 'COUNTRY', 'CITY', 'REGION', 'ORG', 'LOC'] as const;

/** One nginx access-log line a box served, sent as `<box-id>:TRAFFIC_FLOW:log-<id>` in an EXCHANGE. */
export interface TrafficRecord {
  datetime?: string;
  url: string;
  status: number;
  size: number;
}

/**
 * Readings a box reports as numbers. The original's CPU/LOADAVG/MEM/DISK fields (DISK in GB, MEM in
 * bytes, CPU-* in percent), plus BANDWIDTH-UP / BANDWIDTH-DOWN (measured capacity, Mbit/s) and
 * BANDWIDTH-IDLE-UP (upload the household leaves spare now, Mbit/s), and for SD-card wear
 * DISK-WRITE-BYTES (written to the device holding the files since boot) and AGENT-WRITE-BYTES (the
 * agent process's own writes since it started). For a rollout's health (docs/updates.md): SERVE-ERRORS
 * (responses with status ≥ 500 the box's nginx served) and AGENT-ERRORS (errors the agent itself hit), both
 * counted since the agent started, and AGENT-UPTIME (seconds since it started), which makes them rates.
 */
export const NUMERIC_READINGS = [
  'CPU-HZ', 'CPU-NUM', 'CPU-USR', 'CPU-SYS', 'CPU-NIC', 'CPU-IDLE', 'CPU-IO', 'CPU-IRQ', 'CPU-SIRQ',
  'LOADAVG-1', 'LOADAVG-5', 'LOADAVG-15',
  'MEM-TOTAL', 'MEM-AVAIL', 'DISK-TOTAL', 'DISK-AVAIL',
  'BANDWIDTH-UP', 'BANDWIDTH-DOWN', 'BANDWIDTH-IDLE-UP',
  'NET-RX-BYTES', 'NET-TX-BYTES', 'TEMPERATURE', 'UPTIME', 'FILES-HELD',
  'DISK-WRITE-BYTES', 'AGENT-WRITE-BYTES',
  'SERVE-ERRORS', 'AGENT-ERRORS', 'AGENT-UPTIME',
] as const;
export type NumericReading = (typeof NUMERIC_READINGS)[number];
const NUMERIC_SET: ReadonlySet<string> = new Set(NUMERIC_READINGS);
/** Readings that count events: whole numbers. */
const COUNT_READINGS: ReadonlySet<string> = new Set<NumericReading>(['SERVE-ERRORS', 'AGENT-ERRORS']);

/**
 * Traffic a box served, summed per publisher and file over one batch of access-log lines (extension).
 * `ID` is unique per box and stable across redelivery, so an entrance can count each aggregate once.
 */
export interface TrafficAggregate {
  ID: string;
  PUBLISHER: string;
  FILE: string;
  REQUESTS: number;
  /** Bytes sent to viewers, headers included. */
  BYTES: number;
  /** First and last request of the batch, seconds since the epoch. */
  FROM: number;
  TO: number;
}
/** Most aggregates one EXCHANGE may carry; a box sends the rest with later heartbeats. */
export const MAX_AGGREGATES_PER_EXCHANGE = 500;

export type Scalar = string | number | boolean;
export type WireValue = Scalar | GeoIp | TrafficRecord | TrafficAggregate[] | string[] | undefined;

/** How a box mapped its ports on its home router (PORT_MAPPING, extension): `none` the router offers no mapping protocol, `failed` it answered but refused, `off` the box's config turned mapping off. */
export const PORT_MAPPING_METHODS = ['upnp', 'nat-pmp', 'pcp', 'none', 'failed', 'off'] as const;
export type PortMappingMethod = (typeof PORT_MAPPING_METHODS)[number];

/** The entrance's verdict on whether viewers can reach a box from outside (REACHABILITY, extension). */
export const REACHABILITY_VERDICTS = ['reachable', 'forward-port', 'cgnat', 'firewall', 'no-ipv6-route', 'checking'] as const;
export type ReachabilityVerdict = (typeof REACHABILITY_VERDICTS)[number];

/** How a reachable box is reached (REACHABILITY_METHOD, extension): `manual` a port the household forwarded itself. */
export const REACHABILITY_METHODS = ['upnp', 'nat-pmp', 'pcp', 'manual', 'ipv6'] as const;
export type ReachabilityMethod = (typeof REACHABILITY_METHODS)[number];

/** Why a box serves no viewers now (PAUSED, extension): its household's monthly quota is used up, or it is in their quiet hours. */
export const PAUSE_REASONS = ['quota', 'quiet-hours'] as const;
export type PauseReason = (typeof PAUSE_REASONS)[number];

/** Box → entrance, every BOX_PING_ENTRANCE_FREQ seconds. Flat: readings and traffic records sit beside ID. */
export interface BoxExchange extends Envelope {
  TYPE: 'BOX';
  COMMAND: 'EXCHANGE';
  CONNECT_WS: string;
  GEOIP?: GeoIp;
  TRAFFIC_AGGREGATES?: TrafficAggregate[];
  /** Extension: the box's own address on its home network (source of its route to the entrance). */
  LAN_IP?: string;
  /** Extension: how the box mapped its ports on its router. */
  PORT_MAPPING?: PortMappingMethod;
  /** Extension, with `failed`: what the router answered. */
  PORT_MAPPING_ERROR?: string;
  /** Extension: the external address the router reports; '' when it reports none (a router behind a carrier NAT). */
  ROUTER_EXTERNAL_IP?: string;
  /** Extension: why the box serves no viewers now; '' (or absent, from an original box) while it serves. */
  PAUSED?: PauseReason | '';
  /** Extension, with PAUSED: when serving resumes, seconds since the epoch. */
  PAUSED_UNTIL?: number;
  /** Extension: the household's hard ceiling on viewer upload, Mbit/s (0: none). */
  UPLOAD_CAP_MBIT?: number;
  /** Extension: the household's monthly upload quota and how much of it viewers used this month, decimal GB (QUOTA_GB 0: none). */
  QUOTA_GB?: number;
  QUOTA_USED_GB?: number;
  /** Extension: the rate the box lets viewers have now, Mbit/s. */
  VIEWER_RATE_MBIT?: number;
  /** Extension: the agent's version and architecture (shared/src/version.ts, RELEASE_ARCHES), for updates over the air. */
  AGENT_VERSION?: string;
  AGENT_ARCH?: string;
  /** Extension: the version kept in the box's other update slot, the one an UPDATE `revert` returns to ('' none). */
  AGENT_PREVIOUS_VERSION?: string;
  /** Extension: the last update that failed on this box ('' none) and why, until a later update succeeds. */
  UPDATE_FAILED?: string;
  UPDATE_FAILED_REASON?: string;
  [key: string]: WireValue;
}

/** Publisher → entrance: find boxes. */
export interface SearchRequest extends Envelope {
  TYPE: 'PUBLISHER';
  COMMAND: 'SEARCH';
  GEOIP?: GeoIp;
  /** Extension: bytes the publisher's origin served to viewers since ORIGIN_SINCE (its start, seconds). */
  ORIGIN_BYTES?: number;
  ORIGIN_SINCE?: number;
  /** Extension: boxes this publisher caught serving other bytes than it sent (its own audit confirmed it). */
  QUARANTINE?: QuarantineReport[];
}

/** One box a publisher quarantined: which, why, and the file whose copy did not match. */
export interface QuarantineReport {
  BOX_ID: string;
  REASON: string;
  PATH: string;
}
/** Most quarantined boxes one SEARCH may name; a publisher names its most recent ones. */
export const MAX_QUARANTINE_PER_SEARCH = 16;

/** Publisher → box: the handshake before files. */
export interface PublishRequest extends Envelope {
  TYPE: 'PUBLISHER';
  COMMAND: 'PUBLISH';
  /** Extension: the grant from the publisher's last SEARCH reply, which the box checks offline (trust/grant.ts). */
  GRANT?: string;
}

/** Entrance → box. PUBLIC_IP (extension) is the box's address as the entrance sees it. */
export interface ExchangeReply extends Envelope {
  TYPE: 'ENTRANCE';
  COMMAND: 'EXCHANGE';
  MESSAGE: 'ACCEPTED';
  ENTRANCE_URLS: string[];
  URL?: string;
  PUBLIC_IP?: string;
  /** Extension: whether the entrance reached the box's HTTP_URL port at PUBLIC_IP (absent: not known yet). */
  REACHABLE?: boolean;
  /** Extension: the verdict on the box's reachability from outside (REACHABLE is true exactly with `reachable`). */
  REACHABILITY?: ReachabilityVerdict;
  /** Extension, with `reachable`: how viewers reach the box. */
  REACHABILITY_METHOD?: ReachabilityMethod;
  /** Extension: one sentence the household can act on (shared/src/reachability-advice.ts writes it). */
  REACHABILITY_ADVICE?: string;
  /** Extension: the fleet public keys grants may be signed with, by key ID. */
  FLEET_KEYS?: Record<string, string>;
  /** Extension: publishers an operator revoked: their grants are refused and their files removed. */
  REVOKED_PUBLISHERS?: string[];
  /** Extension: `<box-id>.<BOX_DOMAIN>`, the name the entrance's DNS answers for this box and CERTIFY certifies (absent: none). */
  BOX_NAME?: string;
  /** Extension: an update the operator's rollout offers this box (docs/updates.md). */
  UPDATE?: UpdateOffer;
}

export const UPDATE_ACTIONS = ['install', 'revert'] as const;
export type UpdateAction = (typeof UPDATE_ACTIONS)[number];

/**
 * An update offered in an EXCHANGE reply. `install`: download URL, check it against RELEASE (the signed
 * manifest line, shared/src/release/manifest.ts) and install it. `revert`: go back to VERSION, which the box
 * keeps in its other slot (AGENT_PREVIOUS_VERSION); nothing is downloaded.
 */
export interface UpdateOffer {
  ACTION: UpdateAction;
  VERSION: string;
  /** The rollout offering it, for the box's logs and its UPDATE_FAILED report. */
  ROLLOUT: string;
  /** install: the signed release manifest. */
  RELEASE?: string;
  /** install: the binary, an http(s) URL at the entrance that answers Range requests. */
  URL?: string;
}

/**
 * Box → entrance (extension), on its authenticated socket: certify the key of this CSR (PEM) for the box's
 * BOX_NAME. The box keeps the private key; the entrance runs the ACME order.
 */
export interface CertifyRequest extends Envelope {
  TYPE: 'BOX';
  COMMAND: 'CERTIFY';
  CSR: string;
}

/** Entrance → box: the certificate chain (PEM, leaf first) and when the leaf expires (seconds since the epoch). */
export interface CertifyReply extends Envelope {
  TYPE: 'ENTRANCE';
  COMMAND: 'CERTIFY';
  MESSAGE: 'ACCEPTED';
  CERTIFICATE: string;
  NOT_AFTER: number;
}

/** A box as a SEARCH reply lists it: its stored exchange plus RANK (1 = best; extension). */
export type RankedBox = BoxExchange & { RANK: number };

/** Entrance → publisher. BOX_SET is keyed by box ID, its keys in rank order. */
export interface SearchReply extends Envelope {
  TYPE: 'ENTRANCE';
  COMMAND: 'SEARCH';
  URL?: string;
  BOX_SET: Record<string, RankedBox>;
  ENTRANCE_URLS: string[];
  /** Extension: a grant for the searching publisher to show the boxes in BOX_SET (trust/grant.ts). */
  GRANT?: string;
}

/** Box → publisher. */
export interface PublishReply extends Envelope {
  TYPE: 'BOX';
  COMMAND: 'PUBLISH';
  MESSAGE: 'ACCEPTED';
}

/** Box → publisher, one for every binary frame (extension: the original sent none). */
export interface FileReply extends Envelope {
  TYPE: 'BOX';
  COMMAND: 'FILE';
  FILE_PATH: string;
  MESSAGE?: 'ACCEPTED';
  SIZE?: number;
  SHA256?: string;
  ERROR?: string;
  ERROR_CODE?: ErrorCode;
}

/** Any receiver → sender of a message it refused: its own envelope plus ERROR (and ERROR_CODE, extension). */
export interface ErrorReply extends Envelope {
  COMMAND?: Command;
  ERROR: string;
  ERROR_CODE?: ErrorCode;
  /** Extension, with E_ADDRESS: the address the entrance sees the box's socket come from. */
  PUBLIC_IP?: string;
}

export type Decoded =
  | { kind: 'EXCHANGE'; msg: BoxExchange }
  | { kind: 'EXCHANGE_REPLY'; msg: ExchangeReply }
  | { kind: 'SEARCH'; msg: SearchRequest }
  | { kind: 'SEARCH_REPLY'; msg: SearchReply }
  | { kind: 'PUBLISH'; msg: PublishRequest }
  | { kind: 'PUBLISH_REPLY'; msg: PublishReply }
  | { kind: 'FILE_REPLY'; msg: FileReply }
  | { kind: 'CERTIFY'; msg: CertifyRequest }
  | { kind: 'CERTIFY_REPLY'; msg: CertifyReply }
  | { kind: 'ERROR'; msg: ErrorReply };
export type Kind = Decoded['kind'];

export function decodeText(raw: string): Decoded {
  return decodeMessage(parseJsonSafe(raw));
}

export function encodeMessage(msg: Envelope): string {
  return JSON.stringify(msg);
}

/** The one decoder: COMMAND and TYPE together pick the message. */
export function decodeMessage(value: unknown): Decoded {
  if (!isRecord(value)) throw new ProtocolError('E_FORMAT', 'message is not a JSON object');
  checkKeyCount(value, 'message');
  const env = decodeEnvelope(value);
  const command = optionalString(value, 'COMMAND', 32)?.toUpperCase();
  const hasError = !isEmpty(value.ERROR);
  if (hasError && command !== 'FILE') return { kind: 'ERROR', msg: decodeErrorReply(value, env, command) };
  switch (`${command ?? ''}/${env.TYPE}`) {
    case 'EXCHANGE/BOX': return { kind: 'EXCHANGE', msg: decodeBoxExchange(value, env) };
    case 'EXCHANGE/ENTRANCE': return { kind: 'EXCHANGE_REPLY', msg: decodeExchangeReply(value, env) };
    case 'SEARCH/PUBLISHER': return { kind: 'SEARCH', msg: decodeSearchRequest(value, env) };
    case 'SEARCH/ENTRANCE': return { kind: 'SEARCH_REPLY', msg: decodeSearchReply(value, env) };
    case 'PUBLISH/PUBLISHER': return { kind: 'PUBLISH', msg: decodePublishRequest(value, env) };
    case 'PUBLISH/BOX': return { kind: 'PUBLISH_REPLY', msg: { ...env, TYPE: 'BOX', COMMAND: 'PUBLISH', MESSAGE: 'ACCEPTED' } };
    case 'FILE/BOX': return { kind: 'FILE_REPLY', msg: decodeFileReply(value, env) };
    case 'CERTIFY/BOX': return { kind: 'CERTIFY', msg: { ...env, TYPE: 'BOX', COMMAND: 'CERTIFY', CSR: requirePem(value, 'CSR', 'CERTIFICATE REQUEST', Limits.csrChars) } };
    case 'CERTIFY/ENTRANCE': return { kind: 'CERTIFY_REPLY', msg: decodeCertifyReply(value, env) };
  }
  if (command === undefined) throw new ProtocolError('E_COMMAND', 'COMMAND is missing or empty');
  if (!isOneOf(COMMANDS, command)) throw new ProtocolError('E_COMMAND', `unknown COMMAND ${command}`);
  throw new ProtocolError('E_TYPE', `TYPE ${env.TYPE} cannot send COMMAND ${command}`);
}

/** The original's rule: ID, IP, PORT and TYPE present and non-empty (PORT optional for publishers), ID prefixed by its TYPE. */
export function decodeEnvelope(rec: Record<string, unknown>): Envelope {
  const typeText = requireString(rec, 'TYPE', 32).toUpperCase();
  if (!isOneOf(PEER_TYPES, typeText)) {
    throw new ProtocolError('E_TYPE', `TYPE must be one of ${PEER_TYPES.join(', ')}`);
  }
  const TYPE = typeText;
  const ID = requireString(rec, 'ID', Limits.idChars);
  checkId(ID, TYPE);
  const IP = toHost(requireString(rec, 'IP', Limits.ipChars), 'IP');
  const env: Envelope = { ID, IP, TYPE };
  if (TYPE === 'PUBLISHER') {
    if (!isEmpty(rec.PORT)) env.PORT = toPort(rec.PORT, 'PORT');
  } else {
    if (isEmpty(rec.PORT)) throw new ProtocolError('E_FORMAT', 'PORT is missing or empty');
    env.PORT = toPort(rec.PORT, 'PORT');
  }
  return env;
}

export function checkId(id: string, type: PeerType): void {
  const prefix = ID_PREFIX[type];
  if (!id.startsWith(prefix)) throw new ProtocolError('E_ID', `ID of a ${type} must start with ${prefix}`);
  if (!ID_BODY.test(id.slice(prefix.length))) {
    throw new ProtocolError('E_ID', `ID may hold only letters, digits, '_', '.' and '-' after ${prefix}`);
  }
}

/** True when `id` is a well-formed ID of that role (for config and path checks that must not throw). */
export function isIdOf(id: string, type: PeerType): boolean {
  try {
    checkId(id, type);
    return id.length <= Limits.idChars;
  } catch {
    return false;
  }
}

const LOC = /^\s*(-?\d{1,3}(?:\.\d+)?)\s*,\s*(-?\d{1,3}(?:\.\d+)?)\s*$/;

/** "lat,lon" → numbers, or undefined when absent or out of range. */
export function parseLoc(loc: string | undefined): { lat: number; lon: number } | undefined {
  const m = loc === undefined ? null : LOC.exec(loc);
  if (!m) return undefined;
  const lat = Number(m[1]);
  const lon = Number(m[2]);
  if (Math.abs(lat) > 90 || Math.abs(lon) > 180) return undefined;
  return { lat, lon };
}

/** GEOIP as an object; keys matched case-insensitively (ipinfo wrote them lower-case), others dropped. */
export function decodeGeoIp(value: unknown, key = 'GEOIP'): GeoIp {
  if (!isRecord(value)) throw new ProtocolError('E_FORMAT', `${key} must be an object`);
  const out: GeoIp = {};
  for (const [k, v] of Object.entries(value)) {
    const upper = k.toUpperCase();
    if (!isOneOf(GEOIP_KEYS, upper) || v === null || v === undefined || v === '') continue;
    const s = optionalString(value, k, 256);
    if (s !== undefined) out[upper] = s;
  }
  if (out.LOC !== undefined && parseLoc(out.LOC) === undefined) {
    throw new ProtocolError('E_FORMAT', `${key}.LOC must be "lat,lon" with lat in [-90, 90] and lon in [-180, 180]`);
  }
  return out;
}

const TRAFFIC_KEY = /^(.+):TRAFFIC_FLOW:log-([A-Za-z0-9_-]{1,64})$/;

/** The log id of a traffic-record key `<box-id>:TRAFFIC_FLOW:log-<id>`, when `key` is one. */
export function trafficKeyOwner(key: string): string | undefined {
  return TRAFFIC_KEY.exec(key)?.[1];
}

export function decodeTrafficRecord(value: unknown, key: string): TrafficRecord {
  if (!isRecord(value)) throw new ProtocolError('E_FORMAT', `${key} must be an object`);
  const rec: TrafficRecord = {
    url: requireString(value, 'url', Limits.urlChars),
    status: toNumber(value.status, `${key}.status`, { min: 100, max: 999 }),
    size: toNumber(value.size, `${key}.size`, { min: 0 }),
  };
  const datetime = optionalString(value, 'datetime', 64);
  if (datetime !== undefined) rec.datetime = datetime;
  return rec;
}

function decodeAggregates(value: unknown): TrafficAggregate[] {
  if (!Array.isArray(value)) throw new ProtocolError('E_FORMAT', 'TRAFFIC_AGGREGATES must be a list');
  if (value.length > MAX_AGGREGATES_PER_EXCHANGE) throw new ProtocolError('E_TOO_BIG', `TRAFFIC_AGGREGATES has more than ${MAX_AGGREGATES_PER_EXCHANGE} entries`);
  return value.map((raw, i) => decodeTrafficAggregate(raw, `TRAFFIC_AGGREGATES[${i}]`));
}

/**
 * One traffic aggregate, from the wire or from a box's own {ID}:TRAFFIC_PENDING (which is sent back on
 * the wire, so it is decoded by the same rules). Beyond the types: PUBLISHER must be '' or a publisher ID
 * (it becomes part of a key), REQUESTS and BYTES whole numbers (Redis HINCRBY takes integers only; a
 * fraction would fail the fold on every resend).
 */
export function decodeTrafficAggregate(raw: unknown, where: string): TrafficAggregate {
  if (!isRecord(raw)) throw new ProtocolError('E_FORMAT', `${where} must be an object`);
  const agg: TrafficAggregate = {
    ID: requireString(raw, 'ID', 200),
    PUBLISHER: optionalString(raw, 'PUBLISHER', Limits.idChars) ?? '',
    FILE: optionalString(raw, 'FILE', Limits.urlChars) ?? '',
    REQUESTS: toNumber(raw.REQUESTS, `${where}.REQUESTS`, { min: 0 }),
    BYTES: toNumber(raw.BYTES, `${where}.BYTES`, { min: 0 }),
    FROM: toNumber(raw.FROM, `${where}.FROM`, { min: 0 }),
    TO: toNumber(raw.TO, `${where}.TO`, { min: 0 }),
  };
  if (agg.PUBLISHER !== '' && !isIdOf(agg.PUBLISHER, 'PUBLISHER')) {
    throw new ProtocolError('E_FORMAT', `${where}.PUBLISHER must be empty or a publisher ID (publisher-…)`);
  }
  if (!Number.isSafeInteger(agg.REQUESTS)) throw new ProtocolError('E_FORMAT', `${where}.REQUESTS must be a whole number`);
  if (!Number.isSafeInteger(agg.BYTES)) throw new ProtocolError('E_FORMAT', `${where}.BYTES must be a whole number`);
  return agg;
}

const EXTRA_KEY = /^[A-Za-z0-9_.:-]+$/;
const ENVELOPE_KEYS = new Set(['ID', 'IP', 'PORT', 'TYPE', 'COMMAND']);

export function decodeBoxExchange(rec: Record<string, unknown>, env: Envelope): BoxExchange {
  const msg: BoxExchange = {
    ...env,
    TYPE: 'BOX',
    COMMAND: 'EXCHANGE',
    CONNECT_WS: toWsUrl(requireString(rec, 'CONNECT_WS', Limits.urlChars), 'CONNECT_WS'),
  };
  for (const [key, value] of Object.entries(rec)) {
    if (ENVELOPE_KEYS.has(key) || key === 'CONNECT_WS' || value === undefined || value === null) continue;
    if (key === 'GEOIP') {
      msg.GEOIP = decodeGeoIp(value);
    } else if (key === 'TRAFFIC_AGGREGATES') {
      msg.TRAFFIC_AGGREGATES = decodeAggregates(value);
    } else if (key === 'HTTPS_URL') {
      if (value !== '') msg.HTTPS_URL = toHttpsUrl(value, key);
    } else if (NUMERIC_SET.has(key)) {
      if (value === '') continue;
      const n = toNumber(value, key, { min: 0 });
      if (COUNT_READINGS.has(key) && !Number.isSafeInteger(n)) throw new ProtocolError('E_FORMAT', `${key} must be a whole number`);
      msg[key] = n;
    } else if (isOneOf(BOX_REACHABILITY_KEYS, key)) {
      decodeBoxReachability(msg, key, value);
    } else if (isOneOf(HOUSEHOLD_KEYS, key)) {
      decodeHousehold(msg, key, value);
    } else if (isOneOf(BOX_UPDATE_KEYS, key)) {
      decodeBoxUpdate(msg, key, value);
    } else if (trafficKeyOwner(key) !== undefined) {
      if (trafficKeyOwner(key) !== env.ID) throw new ProtocolError('E_FORMAT', `${key}: a box may only report its own traffic`);
      msg[key] = decodeTrafficRecord(value, key);
    } else {
      msg[key] = decodeExtra(key, value);
    }
  }
  return msg;
}

const BOX_REACHABILITY_KEYS = ['LAN_IP', 'PORT_MAPPING', 'PORT_MAPPING_ERROR', 'ROUTER_EXTERNAL_IP'] as const;

/** One of the box's port-mapping fields; '' is taken for "none" (the original kept exchanges in Redis hashes, where absent reads as ''). */
function decodeBoxReachability(msg: BoxExchange, key: (typeof BOX_REACHABILITY_KEYS)[number], value: unknown): void {
  if (value === '') {
    if (key === 'ROUTER_EXTERNAL_IP' || key === 'PORT_MAPPING_ERROR') msg[key] = '';
    return;
  }
  switch (key) {
    case 'LAN_IP':
    case 'ROUTER_EXTERNAL_IP':
      msg[key] = toIp(value, key);
      return;
    case 'PORT_MAPPING':
      msg.PORT_MAPPING = toOneOf(PORT_MAPPING_METHODS, value, key);
      return;
    case 'PORT_MAPPING_ERROR':
      msg.PORT_MAPPING_ERROR = optionalString({ [key]: value }, key, Limits.portMappingErrorChars) ?? '';
  }
}

const BOX_UPDATE_KEYS = ['AGENT_VERSION', 'AGENT_ARCH', 'AGENT_PREVIOUS_VERSION', 'UPDATE_FAILED', 'UPDATE_FAILED_REASON'] as const;

/** A box's version fields: versions as releases write them ('' for none), its architecture one of RELEASE_ARCHES. */
function decodeBoxUpdate(msg: BoxExchange, key: (typeof BOX_UPDATE_KEYS)[number], value: unknown): void {
  switch (key) {
    case 'AGENT_ARCH':
      msg.AGENT_ARCH = toOneOf(RELEASE_ARCHES, value, key);
      return;
    case 'UPDATE_FAILED_REASON':
      msg.UPDATE_FAILED_REASON = optionalString({ [key]: value }, key, Limits.adviceChars) ?? '';
      return;
    case 'AGENT_VERSION':
      msg.AGENT_VERSION = toVersion(value, key, false);
      return;
    default:
      msg[key] = toVersion(value, key, true);
  }
}

function toVersion(value: unknown, key: string, emptyAllowed: boolean): string {
  if (emptyAllowed && value === '') return '';
  if (!isVersion(value)) throw new ProtocolError('E_FORMAT', `${key} must be a version, MAJOR.MINOR.PATCH[-PRERELEASE]`);
  return value;
}

const HOUSEHOLD_KEYS = ['PAUSED', 'PAUSED_UNTIL', 'UPLOAD_CAP_MBIT', 'QUOTA_GB', 'QUOTA_USED_GB', 'VIEWER_RATE_MBIT'] as const;

/**
 * What the box's household allows it (a pause, a cap, a quota) and the viewer rate it runs at. PAUSED ''
 * is serving and kept as such; a number field '' reads as absent (a Redis hash's absent fields).
 */
function decodeHousehold(msg: BoxExchange, key: (typeof HOUSEHOLD_KEYS)[number], value: unknown): void {
  if (key === 'PAUSED') {
    if (value === '') {
      msg.PAUSED = '';
      return;
    }
    if (typeof value !== 'string' || !isOneOf(PAUSE_REASONS, value)) throw new ProtocolError('E_FORMAT', `PAUSED must be one of ${PAUSE_REASONS.join(', ')} or ''`);
    msg.PAUSED = value;
    return;
  }
  if (value === '') return;
  const n = toNumber(value, key, { min: 0 });
  if (key === 'PAUSED_UNTIL' && !Number.isSafeInteger(n)) throw new ProtocolError('E_FORMAT', 'PAUSED_UNTIL must be a whole number of seconds');
  msg[key] = n;
}

/** An IP literal (no name: these are addresses the box read from its own interfaces and its router). */
function toIp(value: unknown, key: string): string {
  const host = toHost(value, key);
  if (net.isIP(host) === 0) throw new ProtocolError('E_FORMAT', `${key} must be an IP address`);
  return host;
}

/** A string that must be one of `values`, named in the error so the sender sees what is allowed. */
function toOneOf<T extends string>(values: readonly T[], value: unknown, key: string): T {
  const s = optionalString({ [key]: value }, key, 32);
  if (s === undefined || !isOneOf(values, s)) throw new ProtocolError('E_FORMAT', `${key} must be one of ${values.join(', ')}`);
  return s;
}

/** Fields this version does not know are kept, as long as they are small scalars under a sane key. */
function decodeExtra(key: string, value: unknown): Scalar {
  if (!EXTRA_KEY.test(key)) throw new ProtocolError('E_FORMAT', `key ${JSON.stringify(key.slice(0, 40))} has characters outside A-Z a-z 0-9 _ . : -`);
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return toNumber(value, key);
  if (typeof value === 'string') {
    if (value.length > Limits.stringChars) throw new ProtocolError('E_TOO_BIG', `${key} is longer than ${Limits.stringChars} characters`);
    return value;
  }
  throw new ProtocolError('E_FORMAT', `${key} must be a string, number or boolean`);
}

function decodeSearchRequest(rec: Record<string, unknown>, env: Envelope): SearchRequest {
  const msg: SearchRequest = { ...env, TYPE: 'PUBLISHER', COMMAND: 'SEARCH' };
  const geo = optionalRecord(rec, 'GEOIP');
  if (geo !== undefined) msg.GEOIP = decodeGeoIp(geo);
  const originBytes = optionalNumber(rec, 'ORIGIN_BYTES', { min: 0 });
  const originSince = optionalNumber(rec, 'ORIGIN_SINCE', { min: 0 });
  if (originBytes !== undefined && originSince !== undefined) {
    msg.ORIGIN_BYTES = Math.floor(originBytes);
    msg.ORIGIN_SINCE = originSince;
  }
  if (rec.QUARANTINE !== undefined && rec.QUARANTINE !== null) msg.QUARANTINE = decodeQuarantine(rec.QUARANTINE);
  return msg;
}

function decodeQuarantine(value: unknown): QuarantineReport[] {
  if (!Array.isArray(value)) throw new ProtocolError('E_FORMAT', 'QUARANTINE must be a list');
  if (value.length > MAX_QUARANTINE_PER_SEARCH) throw new ProtocolError('E_TOO_BIG', `QUARANTINE has more than ${MAX_QUARANTINE_PER_SEARCH} entries`);
  return value.map((raw, i) => {
    const where = `QUARANTINE[${i}]`;
    if (!isRecord(raw)) throw new ProtocolError('E_FORMAT', `${where} must be an object`);
    const BOX_ID = requireString(raw, 'BOX_ID', Limits.idChars);
    if (!isIdOf(BOX_ID, 'BOX')) throw new ProtocolError('E_ID', `${where}.BOX_ID must be a box ID (box-…)`);
    return { BOX_ID, REASON: requireString(raw, 'REASON', Limits.quarantineReasonChars), PATH: requireString(raw, 'PATH', Limits.urlChars) };
  });
}

function decodeUrlList(value: unknown, key: string): string[] {
  if (!Array.isArray(value)) throw new ProtocolError('E_FORMAT', `${key} must be a list`);
  if (value.length > 64) throw new ProtocolError('E_TOO_BIG', `${key} has more than 64 URLs`);
  return value.map((v, i) => toWsUrl(v, `${key}[${i}]`));
}

function decodeExchangeReply(rec: Record<string, unknown>, env: Envelope): ExchangeReply {
  const msg: ExchangeReply = {
    ...env,
    TYPE: 'ENTRANCE',
    COMMAND: 'EXCHANGE',
    MESSAGE: 'ACCEPTED',
    ENTRANCE_URLS: rec.ENTRANCE_URLS === undefined ? [] : decodeUrlList(rec.ENTRANCE_URLS, 'ENTRANCE_URLS'),
  };
  const url = optionalString(rec, 'URL', Limits.urlChars);
  if (url !== undefined) msg.URL = url;
  if (!isEmpty(rec.PUBLIC_IP)) msg.PUBLIC_IP = toHost(rec.PUBLIC_IP, 'PUBLIC_IP');
  if (typeof rec.REACHABLE === 'boolean') msg.REACHABLE = rec.REACHABLE;
  decodeReachabilityVerdict(rec, msg);
  const fleetKeys = optionalRecord(rec, 'FLEET_KEYS');
  if (fleetKeys !== undefined) msg.FLEET_KEYS = decodeFleetKeys(fleetKeys);
  if (rec.REVOKED_PUBLISHERS !== undefined) msg.REVOKED_PUBLISHERS = decodePublisherIds(rec.REVOKED_PUBLISHERS, 'REVOKED_PUBLISHERS');
  // Names are case-insensitive; the box compares it with its certificate's and its HTTPS_URL's host in lowercase.
  if (!isEmpty(rec.BOX_NAME)) msg.BOX_NAME = toHost(rec.BOX_NAME, 'BOX_NAME').toLowerCase();
  const update = optionalRecord(rec, 'UPDATE');
  if (update !== undefined) msg.UPDATE = decodeUpdateOffer(update);
  return msg;
}

/** UPDATE: shapes only. The box checks RELEASE's signature and whether to take it (release/manifest.ts) itself. */
function decodeUpdateOffer(rec: Record<string, unknown>): UpdateOffer {
  const offer: UpdateOffer = {
    ACTION: toOneOf(UPDATE_ACTIONS, rec.ACTION, 'UPDATE.ACTION'),
    VERSION: toVersion(rec.VERSION, 'UPDATE.VERSION', false),
    ROLLOUT: requireString(rec, 'ROLLOUT', Limits.idChars),
  };
  if (offer.ACTION === 'install') {
    offer.RELEASE = requireString(rec, 'RELEASE', MAX_RELEASE_CHARS);
    offer.URL = toHttpUrl(requireString(rec, 'URL', Limits.urlChars), 'UPDATE.URL');
  }
  return offer;
}

function decodeCertifyReply(rec: Record<string, unknown>, env: Envelope): CertifyReply {
  if (rec.MESSAGE !== 'ACCEPTED') throw new ProtocolError('E_FORMAT', 'a CERTIFY reply needs MESSAGE ACCEPTED or an ERROR');
  const CERTIFICATE = requirePem(rec, 'CERTIFICATE', 'CERTIFICATE', Limits.certificateChainChars);
  return { ...env, TYPE: 'ENTRANCE', COMMAND: 'CERTIFY', MESSAGE: 'ACCEPTED', CERTIFICATE, NOT_AFTER: toNumber(rec.NOT_AFTER, 'NOT_AFTER', { min: 0 }) };
}

/**
 * REACHABILITY, its METHOD and ADVICE: absent from an entrance that predates them, so each is optional. A
 * verdict or method this version does not know (a newer entrance's) is dropped, not refused: the reply
 * still carries REACHABLE and the advice, and refusing would cost the box its whole heartbeat.
 */
function decodeReachabilityVerdict(rec: Record<string, unknown>, msg: ExchangeReply): void {
  const verdict = optionalString(rec, 'REACHABILITY', Limits.enumChars);
  if (verdict !== undefined && isOneOf(REACHABILITY_VERDICTS, verdict)) msg.REACHABILITY = verdict;
  const method = optionalString(rec, 'REACHABILITY_METHOD', Limits.enumChars);
  if (method !== undefined && isOneOf(REACHABILITY_METHODS, method)) msg.REACHABILITY_METHOD = method;
  const advice = optionalString(rec, 'REACHABILITY_ADVICE', Limits.adviceChars);
  if (advice !== undefined && advice !== '') msg.REACHABILITY_ADVICE = advice;
}

function decodePublishRequest(rec: Record<string, unknown>, env: Envelope): PublishRequest {
  const msg: PublishRequest = { ...env, TYPE: 'PUBLISHER', COMMAND: 'PUBLISH' };
  const grant = optionalString(rec, 'GRANT', Limits.grantChars);
  if (grant !== undefined && grant !== '') msg.GRANT = grant;
  return msg;
}

/** FLEET_KEYS: key ID → public key text (base64 SPKI); the keys themselves are parsed where they are used. */
function decodeFleetKeys(rec: Record<string, unknown>): Record<string, string> {
  const entries = Object.entries(rec);
  if (entries.length > Limits.fleetKeys) throw new ProtocolError('E_TOO_BIG', `FLEET_KEYS lists more than ${Limits.fleetKeys} keys`);
  const out: Record<string, string> = {};
  for (const [keyId] of entries) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(keyId)) throw new ProtocolError('E_FORMAT', 'FLEET_KEYS key IDs are 1-64 letters, digits, _ or -');
    const text = requireString(rec, keyId, 200);
    if (!/^[A-Za-z0-9+/]+=*$/.test(text)) throw new ProtocolError('E_FORMAT', `FLEET_KEYS.${keyId} must be a base64 public key`);
    out[keyId] = text;
  }
  return out;
}

function decodePublisherIds(value: unknown, key: string): string[] {
  if (!Array.isArray(value)) throw new ProtocolError('E_FORMAT', `${key} must be a list`);
  if (value.length > Limits.revokedPublishers) throw new ProtocolError('E_TOO_BIG', `${key} has more than ${Limits.revokedPublishers} IDs`);
  return value.map((id, i) => {
    if (typeof id !== 'string' || !isIdOf(id, 'PUBLISHER')) throw new ProtocolError('E_ID', `${key}[${i}] must be a publisher ID`);
    return id;
  });
}

function decodeSearchReply(rec: Record<string, unknown>, env: Envelope): SearchReply {
  const set = optionalRecord(rec, 'BOX_SET') ?? {};
  const boxes: Record<string, RankedBox> = {};
  let rank = 0;
  for (const [id, raw] of Object.entries(set)) {
    if (!isRecord(raw)) throw new ProtocolError('E_FORMAT', `BOX_SET.${id} must be an object`);
    const box = decodeBoxExchange(raw, decodeEnvelope(raw));
    if (box.ID !== id) throw new ProtocolError('E_FORMAT', `BOX_SET.${id} holds the exchange of ${box.ID}`);
    rank += 1;
    boxes[id] = { ...box, RANK: optionalNumber(raw, 'RANK', { min: 1 }) ?? rank };
  }
  const msg: SearchReply = {
    ...env,
    TYPE: 'ENTRANCE',
    COMMAND: 'SEARCH',
    BOX_SET: boxes,
    ENTRANCE_URLS: rec.ENTRANCE_URLS === undefined ? [] : decodeUrlList(rec.ENTRANCE_URLS, 'ENTRANCE_URLS'),
  };
  const url = optionalString(rec, 'URL', Limits.urlChars);
  if (url !== undefined) msg.URL = url;
  const grant = optionalString(rec, 'GRANT', Limits.grantChars);
  if (grant !== undefined && grant !== '') msg.GRANT = grant;
  return msg;
}

function decodeFileReply(rec: Record<string, unknown>, env: Envelope): FileReply {
  const msg: FileReply = { ...env, TYPE: 'BOX', COMMAND: 'FILE', FILE_PATH: requireString(rec, 'FILE_PATH', Limits.urlChars) };
  if (!isEmpty(rec.ERROR)) {
    msg.ERROR = requireString(rec, 'ERROR');
    const code = optionalString(rec, 'ERROR_CODE', 32);
    if (code !== undefined && isErrorCode(code)) msg.ERROR_CODE = code;
    return msg;
  }
  if (rec.MESSAGE !== 'ACCEPTED') throw new ProtocolError('E_FORMAT', 'a FILE reply needs MESSAGE ACCEPTED or an ERROR');
  msg.MESSAGE = 'ACCEPTED';
  msg.SIZE = toNumber(rec.SIZE, 'SIZE', { min: 0 });
  const sha = requireString(rec, 'SHA256', 64);
  if (!/^[0-9a-f]{64}$/.test(sha)) throw new ProtocolError('E_FORMAT', 'SHA256 must be 64 lower-case hex digits');
  msg.SHA256 = sha;
  return msg;
}

function decodeErrorReply(rec: Record<string, unknown>, env: Envelope, command: string | undefined): ErrorReply {
  const msg: ErrorReply = { ...env, ERROR: requireString(rec, 'ERROR') };
  if (command !== undefined && isOneOf(COMMANDS, command)) msg.COMMAND = command;
  const code = optionalString(rec, 'ERROR_CODE', 32);
  if (code !== undefined && isErrorCode(code)) msg.ERROR_CODE = code;
  if (!isEmpty(rec.PUBLIC_IP)) msg.PUBLIC_IP = toHost(rec.PUBLIC_IP, 'PUBLIC_IP');
  return msg;
}

/** What a receiver answers to a message it refused: its own info, the original's ERROR text, and the code. */
export function errorReply(own: Envelope, err: ProtocolError, command?: Command): ErrorReply {
  const reply: ErrorReply = { ...own, ...err.replyFields, ERROR: `Wrong format in your message: ${err.message}`, ERROR_CODE: err.code };
  if (err.code === 'E_INTERNAL') reply.ERROR = `Internal error: ${err.message}`;
  if (command !== undefined) reply.COMMAND = command;
  return reply;
}

/** The traffic records carried by an exchange, keyed by their log id. */
export function trafficRecordsOf(msg: BoxExchange): Array<{ key: string; record: TrafficRecord }> {
  const out: Array<{ key: string; record: TrafficRecord }> = [];
  for (const [key, value] of Object.entries(msg)) {
    if (trafficKeyOwner(key) !== undefined && isTrafficRecord(value)) out.push({ key, record: value });
  }
  return out;
}

/** A traffic record as decodeTrafficRecord left it (the exchange was decoded, so only its shape is checked). */
function isTrafficRecord(value: unknown): value is TrafficRecord {
  return isRecord(value) && typeof value.url === 'string' && typeof value.status === 'number' && typeof value.size === 'number';
}

export function readingOf(msg: BoxExchange, key: NumericReading): number | undefined {
  const v = msg[key];
  return typeof v === 'number' ? v : undefined;
}
