/**
 * Every config key of every role, once, with its type, default and meaning. The original's upper-case
 * names are kept; keys new in this rewrite say so. The example config files at the repository root are
 * rendered from these tables (`bin/dandelion config example ROLE`), and a test keeps them in step.
 */
import { isIdOf } from '../protocol/messages.js';
import type { PeerType } from '../protocol/messages.js';
import {
  bool,
  checkHost,
  checkRedisUrl,
  checkUrlPath,
  checkWsUrl,
  list,
  listenPort,
  num,
  oneOf,
  optionalStr,
  port,
  str,
} from './spec.js';
import type { ConfigOf, Schema } from './spec.js';

const idOf = (type: PeerType) => (s: string) =>
  isIdOf(s, type) ? undefined : `must look like ${type.toLowerCase()}-<letters, digits, _ . ->`;

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** Keys every role has: its Redis and its logging. */
export const COMMON_SCHEMA = {
  LOG_LEVEL: oneOf('Least severe log level written (JSON lines on stdout).', LOG_LEVELS, 'info'),
  REDIS_URL: optionalStr(
    'Redis to use, as redis://[:password@]host:port/db, rediss://… or unix:///path/redis.sock?db=N. When set, REDIS_HOST, REDIS_PORT and DB are ignored. (New in this rewrite.)',
    checkRedisUrl,
  ),
  REDIS_HOST: str('Redis host when REDIS_URL is not set. (The original defaulted to "redis", its docker-compose service.)', '127.0.0.1', checkHost),
  REDIS_PORT: port('Redis port when REDIS_URL is not set.', 6379),
  DB: num('Redis database number when REDIS_URL is not set.', 0, { min: 0, max: 65535, integer: true }),
} satisfies Schema;

export const ENTRANCE_SCHEMA = {
  ID: optionalStr(
    'This entrance\'s ID (entrance-…). When empty, one is generated at first start and kept in RUN_DIRECTORY/entrance-id, so a restart keeps the same ID and so the same registry in Redis.',
    idOf('ENTRANCE'),
  ),
  ...COMMON_SCHEMA,
  ENTRANCE_IP: str('Address the entrance\'s HTTP and WebSocket server binds to.', '0.0.0.0', checkHost),
  ENTRANCE_PORT: listenPort('Port of the entrance\'s HTTP and WebSocket server (0: any free port).', 7071),
  ENTRANCE_URL: optionalStr(
    'The WebSocket URL boxes and publishers use to reach this entrance, told to them first in ENTRANCE_URLS. Default: ws://ENTRANCE_IP:ENTRANCE_PORT + BASE_URL/WEBSOCKET_URL/ (127.0.0.1 when bound to 0.0.0.0). (New in this rewrite.)',
    checkWsUrl,
  ),
  ENTRANCE_SERVER_PROXY_PORT: port('Port of the TLS proxy (nginx) in front of the entrance in the original\'s deployment; kept for compatibility, the entrance itself does not use it.', 7070),
  ENTRANCE_OTHER_URLS: list('Other entrances\' WebSocket URLs, told to boxes and publishers after this one\'s; seeds the Redis set {ID}:ENTRANCE_URLS, where more can be added at run time.', [], checkWsUrl),
  ENTRANCE_EXPIRE_BOX_TIME: num('Seconds after its last EXCHANGE that a box is dropped from the registry.', 120, { min: 1, max: 86400 }),
  ENTRANCE_SWEEP_FREQ: num('Seconds between sweeps that remove expired boxes (boxes are also filtered at read time). (New in this rewrite.)', 5, { min: 0.1, max: 60 }),
  AMOUNT_OF_BOXES_PER_REQUEST: num('Most boxes in one SEARCH reply.', 20, { min: 1, max: 1000, integer: true }),
  BASE_URL: str('Path prefix of the entrance\'s pages and socket.', '/dandelion', checkUrlPath),
  WEBSOCKET_URL: str('Path of the WebSocket below BASE_URL, so the socket is BASE_URL/WEBSOCKET_URL/.', 'ws', checkUrlPath),
  MAX_MESSAGE_BYTES: num('Largest WebSocket frame the entrance reads; larger ones are refused with close code 1009. (New in this rewrite.)', 256 * 1024, { min: 4096, max: 64 * 1024 * 1024, integer: true }),
  TRUST_PROXY: bool('Take the peer\'s address from X-Real-IP / X-Forwarded-For (set it when a proxy such as the original\'s nginx sits in front). (New in this rewrite.)', false),
  RUN_DIRECTORY: str('Folder for the entrance\'s own state (its generated ID).', '/var/lib/dandelion/entrance'),
} satisfies Schema;
export type EntranceConfig = ConfigOf<typeof ENTRANCE_SCHEMA>;

export const AGENT_SCHEMA = {
  ID: optionalStr('This box\'s ID (box-…). Default: derived from /etc/machine-id or the Raspberry Pi serial, stable across reinstalls.', idOf('BOX')),
  ...COMMON_SCHEMA,
  ENTRANCE_URLS: list('Entrance WebSocket URLs the box starts from; more are learnt from replies.', ['ws://127.0.0.1:7071/dandelion/ws/'], checkWsUrl),
  BOX_SERVER_IP: str('Address the agent\'s WebSocket server binds to.', '0.0.0.0', checkHost),
  BOX_CLIENT_IP: str('Address publishers and viewers use to reach this box (empty: the public address the entrance sees).', ''),
  BOX_PORT: listenPort('Port of the agent\'s WebSocket server.', 7071),
  BOX_SERVER_PROXY_PORT: port('Port of the TLS proxy (nginx) in front of the agent in the original\'s deployment; kept for compatibility.', 7070),
  BASE_DIRECTORY: str('Folder where received files are kept, as <publisher-id>/<FILE_PATH>.', '/tmp'),
  BOX_PING_ENTRANCE_FREQ: num('Seconds between a box\'s EXCHANGE heartbeats.', 5, { min: 0.1, max: 3600 }),
} satisfies Schema;
export type AgentConfig = ConfigOf<typeof AGENT_SCHEMA>;

export const PUBLISHER_SCHEMA = {
  ID: optionalStr('This publisher\'s ID (publisher-…). Default: generated once and kept.', idOf('PUBLISHER')),
  ...COMMON_SCHEMA,
  ENTRANCE_URLS: list('Entrance WebSocket URLs the publisher starts from; more are learnt from replies.', ['ws://127.0.0.1:7071/dandelion/ws/'], checkWsUrl),
  MIN_HTTP_PEERS: num('Boxes the publisher keeps connections to.', 20, { min: 1, max: 1000, integer: true }),
  PUBLISHER_PING_ENTRANCE_FREQ: num('Seconds between the publisher\'s SEARCH requests.', 10, { min: 0.1, max: 3600 }),
} satisfies Schema;
export type PublisherConfig = ConfigOf<typeof PUBLISHER_SCHEMA>;

export const SCHEMAS = { entrance: ENTRANCE_SCHEMA, agent: AGENT_SCHEMA, publisher: PUBLISHER_SCHEMA } as const;
export type Role = keyof typeof SCHEMAS;

