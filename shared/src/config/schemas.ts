/**
 * Every config key of every role, once, with its type, default and meaning (what the key does; which
 * keys the original Python Dandelion had is told once, in docs/compatibility.md). The example config
 * files at the repository root and the tables of docs/config.md are rendered from these tables
 * (`make examples`), and a test keeps them in step.
 */
import { decodeGeoIp, isIdOf } from '../protocol/messages.js';
import { isPasswordHash } from '../password.js';
import { parsePublisherToken } from '../enrolment/codec.js';
import { checkAddressOrCidr } from '../peer-address.js';
import { checkBoxDomain } from '../box-name.js';
import { checkQuietHours } from '../quiet-hours.js';
import type { PeerType } from '../protocol/messages.js';
import {
  bool,
  checkCron,
  checkHost,
  checkHostPort,
  checkHttpsUrl,
  checkRedisUrl,
  checkUrlPath,
  checkWsUrl,
  list,
  listenPort,
  num,
  oneOf,
  optionalStr,
  port,
  record,
  recordList,
  str,
} from './spec.js';
import type { ConfigOf, Schema } from './spec.js';

const idOf = (type: PeerType) => (s: string) =>
  isIdOf(s, type) ? undefined : `must look like ${type.toLowerCase()}-<letters, digits, _ . ->`;

/** A fleet is named `fleet-…`, or after one of its entrances (an operator whose registry already lives under that entrance's ID keeps it). */
const checkFleetId = (s: string): string | undefined =>
  isIdOf(s, 'ENTRANCE') || (/^fleet-[A-Za-z0-9_.-]+$/.test(s) && s.length <= 100) ? undefined : 'must look like fleet-<letters, digits, _ . -> or an entrance ID (entrance-…)';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** Keys every role has: its Redis and its logging. */
export const COMMON_SCHEMA = {
  LOG_LEVEL: oneOf('Least severe log level written (JSON lines on stdout).', LOG_LEVELS, 'info'),
  REDIS_URL: optionalStr(
    'Redis to use, as redis://[:password@]host:port/db, rediss://… or unix:///path/redis.sock?db=N. When set, REDIS_HOST, REDIS_PORT and DB are ignored.',
    checkRedisUrl,
  ),
  REDIS_HOST: str('Redis host when REDIS_URL is not set.', '127.0.0.1', checkHost),
  REDIS_PORT: port('Redis port when REDIS_URL is not set.', 6379),
  DB: num('Redis database number when REDIS_URL is not set.', 0, { min: 0, max: 65535, integer: true }),
  REDIS_CLUSTER_NODES: list(
    'Nodes (host:port) of a Redis Cluster to use instead of one Redis; a few are enough, the client learns the rest from them. When set, REDIS_URL, REDIS_HOST, REDIS_PORT and DB are ignored, for every role (entrance, box agent, publisher): each lays its keys out behind hash tags, the entrance its registry in sharded keys, a box or a publisher all of its own keys in the slot of its ID (docs/scale.md, "Redis Cluster"). Empty: one Redis.',
    [],
    checkHostPort,
  ),
} satisfies Schema;

export const ENTRANCE_SCHEMA = {
  ID: optionalStr(
    'This entrance\'s ID (entrance-…). When empty, one is generated at first start and kept in RUN_DIRECTORY/entrance-id, so a restart keeps the same ID and so the same registry in Redis.',
    idOf('ENTRANCE'),
  ),
  FLEET_ID: optionalStr(
    'The registry namespace every entrance of one fleet shares on one Redis (fleet-… or an entrance ID, such as the first entrance\'s, to keep its registry): a box registered through one of them is found by a SEARCH on any, and each tells boxes and publishers the others\' URLs. Default: this entrance\'s ID, so each entrance keeps its own registry under {ID}:.',
    checkFleetId,
  ),
  ...COMMON_SCHEMA,
  ENTRANCE_IP: str('Address the entrance\'s HTTP and WebSocket server binds to.', '0.0.0.0', checkHost),
  ENTRANCE_PORT: listenPort('Port of the entrance\'s HTTP and WebSocket server (0: any free port).', 7071),
  ENTRANCE_URL: optionalStr(
    'The WebSocket URL boxes and publishers use to reach this entrance, told to them first in ENTRANCE_URLS. Default: ws://ENTRANCE_IP:ENTRANCE_PORT + BASE_URL/WEBSOCKET_URL/ (127.0.0.1 when bound to 0.0.0.0).',
    checkWsUrl,
  ),
  ENTRANCE_SERVER_PROXY_PORT: port('Port of a TLS proxy (nginx) in front of the entrance. Accepted but not read: the entrance does not use it.', 7070),
  ENTRANCE_OTHER_URLS: list('Other entrances\' WebSocket URLs, told to boxes and publishers after this one\'s; seeds the Redis set {ID}:ENTRANCE_URLS, where more can be added at run time.', [], checkWsUrl),
  ENTRANCE_EXPIRE_BOX_TIME: num('Seconds after its last EXCHANGE that a box is dropped from the registry.', 120, { min: 1, max: 86400 }),
  ENTRANCE_SWEEP_FREQ: num('Seconds between sweeps that remove expired boxes (boxes are also filtered at read time).', 5, { min: 0.1, max: 60 }),
  AMOUNT_OF_BOXES_PER_REQUEST: num('Most boxes in one SEARCH reply.', 20, { min: 1, max: 1000, integer: true }),
  BASE_URL: str('Path prefix of the entrance\'s pages and socket.', '/dandelion', checkUrlPath),
  WEBSOCKET_URL: str('Path of the WebSocket below BASE_URL, so the socket is BASE_URL/WEBSOCKET_URL/.', 'ws', checkUrlPath),
  MAX_MESSAGE_BYTES: num('Largest WebSocket frame the entrance reads; larger ones are refused with close code 1009.', 256 * 1024, { min: 4096, max: 64 * 1024 * 1024, integer: true }),
  MAX_BUFFERED_MB: num('Most MiB of WebSocket messages the entrance holds received but not yet answered, all peers together. When a peer would cross it, the socket holding the most is closed with 1013 (try again later); while it is spent, new sockets are refused with 503. One socket holds at most 2 × MAX_MESSAGE_BYTES (more is refused with 1013).', 128, { min: 1, max: 65536 }),
  MAX_SOCKETS_PER_IP: num('Most WebSockets one address (an IPv6 address by its /64) may have open at the entrance at once; more are refused with 429 E_BUSY. Boxes and publishers behind one NAT share an address.', 256, { min: 1, max: 1_000_000, integer: true }),
  MAX_HANDSHAKES_PER_SECOND_PER_IP: num('Most WebSocket handshakes one address (an IPv6 address by its /64) may start at the entrance in a second: a burst of that many, then that rate; more are refused with 429 E_RATE.', 50, { min: 1, max: 1_000_000 }),
  TRUSTED_PROXIES: list(
    'Addresses or CIDRs (10.0.0.0/8, fd00::/8) of the reverse proxies in front of the entrance. Only a request whose socket comes from one of them has its X-Forwarded-For read (the right-most address that is not itself listed; the proxy must append the peer it sees, as nginx\'s $proxy_add_x_forwarded_for does), or X-Real-IP when it sent no X-Forwarded-For, and its X-Forwarded-Proto: https makes session cookies Secure. That address is the one login limits count, speed tests are admitted for and the reachability probe targets. Empty: headers are never read and every peer is its socket\'s address.',
    [],
    checkAddressOrCidr,
  ),
  PROXY_PROTOCOL_FROM: list(
    'Addresses or CIDRs of the TCP load balancers in front of the entrance that send the PROXY protocol (HAProxy\'s, v1 or v2: nginx stream\'s `proxy_protocol on`, HAProxy\'s `send-proxy`/`send-proxy-v2`, cloud balancers). A connection from one of them must start with a PROXY header, else it is closed (logged); the client the header names is then that connection\'s peer everywhere the entrance asks who a peer is: the PUBLIC_IP it is told, its location, the reachability probe, the per-address limits and TRUSTED_PROXIES\' check (a header saying UNKNOWN or LOCAL, a balancer\'s health check, leaves the balancer\'s own address). Connections from any other address are never read for a header, so nobody else can name a client. Empty: no PROXY protocol, every peer is its socket\'s address.',
    [],
    checkAddressOrCidr,
  ),
  RUN_DIRECTORY: str('Folder for the entrance\'s own state (its generated ID).', '/var/lib/dandelion/entrance'),
  DASHBOARD_USERS: recordList(
    'Operators who may log in to /dashboard/: a list of {USERNAME, PASSWORD_HASH}, the hash printed by `dandelion hash-password`. Empty: nobody can log in.',
    (raw) => {
      const USERNAME = raw.USERNAME;
      const PASSWORD_HASH = raw.PASSWORD_HASH;
      if (typeof USERNAME !== 'string' || !/^[A-Za-z0-9_.@-]{1,64}$/.test(USERNAME)) throw new Error('USERNAME must be 1-64 letters, digits or _ . @ -');
      if (typeof PASSWORD_HASH !== 'string' || !isPasswordHash(PASSWORD_HASH)) throw new Error('PASSWORD_HASH must be a hash from `dandelion hash-password`');
      return { USERNAME, PASSWORD_HASH };
    },
  ),
  API_TOKENS: list('Hashes (from `dandelion hash-password`) of bearer tokens that scripts may send as "Authorization: Bearer <token>" to /api/.', [], (s) => (isPasswordHash(s) ? undefined : 'must be a hash from `dandelion hash-password`')),
  METRICS_TOKEN: optionalStr('When set (a hash from `dandelion hash-password`), /metrics asks for "Authorization: Bearer <token>". Empty: /metrics answers 403 unless METRICS_PUBLIC is true.', (s) => (isPasswordHash(s) ? undefined : 'must be a hash from `dandelion hash-password`')),
  METRICS_PUBLIC: bool('Serve /metrics to anyone when METRICS_TOKEN is empty (it lists publishers and fleet figures; for a Prometheus on a private network). false: without METRICS_TOKEN, /metrics is closed.', false),
  SESSION_HOURS: num('Hours a dashboard login lasts.', 12, { min: 0.1, max: 24 * 30 }),
  BOX_STALE_TIME: num('Seconds without an EXCHANGE after which the dashboard shows a box as stale (it is dropped after ENTRANCE_EXPIRE_BOX_TIME).', 15, { min: 1, max: 86400 }),
  BOX_HISTORY_DAYS: num('Days of per-minute readings kept for each box\'s history charts, and of offline boxes kept in the fleet list.', 7, { min: 0.1, max: 366 }),
  TRAFFIC_MINUTE_DAYS: num('Days per-minute traffic buckets are kept.', 3, { min: 0.1, max: 366 }),
  TRAFFIC_HOUR_DAYS: num('Days per-hour traffic buckets are kept.', 35, { min: 1, max: 3660 }),
  TRAFFIC_DAY_DAYS: num('Days per-day traffic buckets are kept.', 400, { min: 1, max: 36600 }),
  REQUIRE_ENROLMENT: bool('Accept EXCHANGE only from boxes enrolled with a fleet token that prove their key at the WebSocket upgrade (docs/enrolment.md). false: boxes without credentials are accepted too — for development and for boxes that cannot enrol only, since then anyone can add a box. Publishers\' SEARCH is not affected.', true),
  REQUIRE_PUBLISHER_AUTH: bool('Answer SEARCH only from publishers with an account (`dandelion entrance publisher create`) that prove their key at the WebSocket upgrade, and have boxes accept PUBLISH only with a grant this entrance signed (docs/security.md). false: any publisher, also one without an account or grants (a Python-era uploader), may search and publish — for development only, since then anyone can put files on the boxes.', true),
  REQUIRE_REACHABLE: bool('SEARCH lists only boxes the entrance reached from outside: their viewer, publisher and (when they serve it) HTTPS ports answered as the box at the address its socket comes from (verdict `reachable`, shown on the dashboard). false: boxes are listed while their reachability is unknown or failing too — for tests with boxes that serve nothing, never for a fleet that viewers use.', true),
  PUBLISHER_RECORD_DAYS: num('Days a publisher\'s record (its last SEARCH and address, its origin-traffic counter) is kept after its last SEARCH. With REQUIRE_PUBLISHER_AUTH false a SEARCH needs no credentials, so records of publishers gone silent must not stay for ever; a dropped publisher\'s origin bytes stay in the fleet total.', 7, { min: 0.01, max: 366 }),
  MAX_PUBLISHER_RECORDS: num('Most publishers the entrance keeps records of (see PUBLISHER_RECORD_DAYS); beyond it the one that searched longest ago is dropped, so a flood of SEARCH with new IDs cannot fill Redis (about 700 bytes of Redis each).', 1_000, { min: 1, max: 1_000_000, integer: true }),
  TRAFFIC_DEDUPE_DAYS: num('Days after its time that a box\'s traffic aggregate is still counted (exactly once); older ones, from a box offline that long, are accepted but not counted. Bounds the memory of the duplicate markers.', 7, { min: 1, max: 366 }),
  BOX_DOMAIN: str('DNS zone this entrance is authoritative for (delegate it to the entrance in the parent zone with an NS record naming the host of ENTRANCE_URL, or ns.BOX_DOMAIN plus a glue record when ENTRANCE_URL has no host name): each box whose ID is a lowercase DNS label gets the name <box-id>.BOX_DOMAIN (its registered address) and may ask for a certificate for it (CERTIFY). Empty: no names, no DNS server, no certificates.', '', checkBoxDomain),
  DNS_BIND: str('Address the entrance\'s DNS server (UDP and TCP) binds to when BOX_DOMAIN is set.', '0.0.0.0', checkHost),
  DNS_PORT: listenPort('Port of the entrance\'s DNS server (0: any free port, logged; for tests).', 53),
  ACME_DIRECTORY_URL: str('Directory URL of the ACME CA that issues the boxes\' certificates (DNS-01 through this entrance\'s DNS).', 'https://acme-v02.api.letsencrypt.org/directory', checkHttpsUrl),
  ACME_CA_FILE: str('PEM file of CA certificates trusted, besides the system\'s, for the ACME server\'s own HTTPS (a test CA such as pebble). Empty: the system\'s roots only.', ''),
  ACME_EMAIL: str('Contact e-mail given to the ACME CA with the entrance\'s account (expiry notices). Empty: none.', '', (s) => (s === '' || /^[^\s@]+@[^\s@]+$/.test(s) ? undefined : 'must be an e-mail address or empty')),
} satisfies Schema;
export type EntranceConfig = ConfigOf<typeof ENTRANCE_SCHEMA>;

export const AGENT_SCHEMA = {
  ID: optionalStr('This box\'s ID (box-…). Default: box-<hash> derived from the Raspberry Pi serial in /proc/cpuinfo, else /etc/machine-id, so it is stable across reboots and reinstalls.', idOf('BOX')),
  ...COMMON_SCHEMA,
  ENTRANCE_URLS: list('Entrance WebSocket URLs the box starts from; more are learnt from replies.', ['ws://127.0.0.1:7071/dandelion/ws/'], checkWsUrl),
  BOX_SERVER_IP: str('Address the agent\'s WebSocket server and nginx\'s viewer port bind to.', '0.0.0.0', checkHost),
  BOX_CLIENT_IP: str('Address publishers and viewers use to reach this box. Empty: the public address the entrance reports (PUBLIC_IP).', '', (s) => (s === '' ? undefined : checkHost(s))),
  BOX_PORT: listenPort('Port of the agent\'s WebSocket server (publishers connect to CONNECT_WS = ws://BOX_CLIENT_IP:BOX_PORT/dandelion/<box-id>/ws/).', 7071),
  BOX_HTTP_PORT: listenPort('nginx\'s viewer port: a file sent as FILE_PATH p by publisher P is served at http://BOX_CLIENT_IP:BOX_HTTP_PORT/P/p. nginx also proxies /dandelion/<box-id>/ws/ on it to the agent.', 7072),
  PORT_MAPPING: oneOf('auto: the box asks its home router to forward BOX_HTTP_PORT and BOX_PORT from outside (NAT-PMP, then UPnP IGD), renews the mappings, maps again when the router or its external address changes, and removes them on exit. off: the household forwards the ports by hand.', ['auto', 'off'] as const, 'auto'),
  BOX_SERVER_PROXY_PORT: port('Port of a TLS proxy (nginx) in front of the agent. Accepted but not read: the agent does not use it.', 7070),
  BOX_HTTPS_PORT: listenPort('nginx\'s HTTPS viewer port: the same files and paths as BOX_HTTP_PORT, served over TLS with the certificate the box obtains for its name (https://<BOX_NAME>:BOX_HTTPS_PORT/, announced as HTTPS_URL) once it holds one (0: any free port).', 7073),
  HTTPS: oneOf('auto: when an entrance gives the box a name (BOX_NAME), make a key on the box, have the entrance certify it (CERTIFY), serve HTTPS on BOX_HTTPS_PORT and renew the certificate at 2/3 of its lifetime. off: HTTP only.', ['auto', 'off'] as const, 'auto'),
  BASE_DIRECTORY: str('Folder where received files are kept, as <publisher-id>/<FILE_PATH>.', '/var/lib/dandelion/files'),
  RUN_DIRECTORY: str('Folder for the agent\'s own state: generated nginx config, nginx\'s logs and pid, the access log the agent tails.', '/var/lib/dandelion/agent'),
  UPDATE_DIRECTORY: str('Folder of the updates over the air (docs/updates.md): the A/B slots slot-a/ and slot-b/, their state (read by the launcher, firmware-image/dandelion-agent-run --slots, which must name the same folder) and a download in progress. On the data partition, never the read-only root.', '/var/lib/dandelion/update'),
  UPDATE_CONFIRM_S: num('Seconds a newly installed agent version has to be accepted by an entrance; otherwise the launcher rolls the box back to the version before it and the box reports the failed one.', 300, { min: 10, max: 86400, integer: true }),
  BOX_PING_ENTRANCE_FREQ: num('Seconds between a box\'s EXCHANGE heartbeats (each one jittered by up to ±10 %).', 5, { min: 0.1, max: 3600 }),
  METRICS_PORT: num('Port of the agent\'s Prometheus /metrics (on METRICS_IP); 0: none.', 9110, { min: 0, max: 65535, integer: true }),
  METRICS_IP: str('Address the agent\'s /metrics binds to: loopback by default, so the household network and the internet cannot read it; 0.0.0.0 for a Prometheus elsewhere.', '127.0.0.1', checkHost),
  NGINX: oneOf('managed: the agent runs its own nginx with a config generated under RUN_DIRECTORY and stops it on exit (tests, the demo, several boxes on one machine). system: the agent writes NGINX_SYSTEM_CONF for the system\'s nginx and reloads it (a real box).', ['managed', 'system'] as const, 'managed'),
  NGINX_BINARY: str('The nginx executable.', '/usr/sbin/nginx'),
  NGINX_SYSTEM_CONF: str('With NGINX: system, the file the agent writes (included inside nginx\'s http block).', '/etc/nginx/conf.d/dandelion.conf'),
  MAX_FILE_MB: num('Largest file one <Dandelion> frame may carry, in MiB.', 50, { min: 1, max: 1024 }),
  MAX_BUFFERED_MB: num('Most MiB of publishers\' frames the agent holds received but not yet stored, all sockets together; 0: twice MAX_FILE_MB (never less than one frame). When a publisher would cross it, the socket holding the most is closed with 1013 (try again later). One socket holds at most one frame of MAX_FILE_MB and its header; a publisher sending more before the replies is closed with 1013.', 0, { min: 0, max: 65536 }),
  MAX_SOCKETS_PER_IP: num('Most publisher WebSockets one address (an IPv6 address by its /64) may have open at the box at once; more are refused with 429 E_BUSY. Publishers reaching the box through its nginx count by the address nginx reports.', 32, { min: 1, max: 1_000_000, integer: true }),
  MAX_HANDSHAKES_PER_SECOND_PER_IP: num('Most WebSocket handshakes one address (an IPv6 address by its /64) may start at the box in a second: a burst of that many, then that rate; more are refused with 429 E_RATE.', 20, { min: 1, max: 1_000_000 }),
  DISK_RESERVE_MB: num('Free space (MiB) a received file must leave on the disk of BASE_DIRECTORY; a file that would leave less is refused.', 256, { min: 0 }),
  DEFAULT_TTL: num('Seconds a file lives when its frame names no TTL, and the deadline given to files found on disk without one at start.', 60, { min: 1, max: 7 * 24 * 3600 }),
  PUBLISHER_RECORD_TTL: num('Seconds a publisher\'s {ID}:SUBSCRIBE and {ID}:EXCHANGE records live after its last PUBLISH, or after the TTL of its last file when that is longer. PUBLISH needs no credentials, so records must not stay for ever.', 86_400, { min: 1, max: 30 * 24 * 3600 }),
  MAX_PUBLISHER_RECORDS: num('Most publishers whose records the box keeps; beyond it the record that would expire first is dropped (only the record: files are untouched, and the publisher may go on sending), so a flood of PUBLISH with new IDs cannot fill the box\'s Redis (about 800 bytes of Redis each).', 1_000, { min: 1, max: 1_000_000, integer: true }),
  EXPIRY_CRON: str('node-cron schedule (with seconds) of the sweep that deletes expired files.', '*/10 * * * * *', checkCron),
  ENROLMENT_TOKEN: optionalStr('Fleet token (from `dandelion entrance token create`) the box presents once, with its public key, to enrol; afterwards the key alone authenticates it.', (s) => (/^dlt_[A-Za-z0-9_-]{1,64}$/.test(s) ? undefined : 'must be a fleet token as printed by `dandelion entrance token create` (dlt_…)')),
  KEY_FILE: str('The box\'s private key (Ed25519, PEM, mode 0600), generated at first start. Empty: RUN_DIRECTORY/box-key.pem.', ''),
  GEOIP: record('The box\'s place {IP, HOSTNAME, COUNTRY, CITY, REGION, ORG, LOC: "lat,lon"}, reported unchanged when the public address is private, loopback or unknown.', decodeGeoIp),
  BANDWIDTH_TEST_CRON: str('node-cron schedule of the capacity test against the entrance (also run at start and when the public address changes). Empty: never.', '23 17 */6 * * *', (s) => (s === '' ? undefined : checkCron(s))),
  BANDWIDTH_TEST_MB: num('MiB moved each way by one capacity test.', 8, { min: 0.1, max: 64 }),
  BANDWIDTH_UP: num('Upload capacity in Mbit/s when it should not be measured (0: measure).', 0, { min: 0 }),
  BANDWIDTH_DOWN: num('Download capacity in Mbit/s when it should not be measured (0: measure).', 0, { min: 0 }),
  VIEWER_SHARE: num('Share of the idle upload (capacity minus household use) that viewers may take.', 0.8, { min: 0.05, max: 1 }),
  VIEWER_FLOOR_MBIT: num('Viewers always get at least this much (Mbit/s), however busy the household.', 1, { min: 0.01 }),
  HOUSEHOLD_YIELD: oneOf('auto: the box paces viewer traffic with its own tc class on the interface towards the entrance, pings the entrance every 200 ms while serving, and slows viewers down as soon as the home router\'s upload queue grows (the household is uploading), then speeds them up when it empties (needs CAP_NET_ADMIN and tc; never on loopback). off: viewers are limited by the viewer budget alone.', ['auto', 'off'] as const, 'auto'),
  HOUSEHOLD_DELAY_TARGET_MS: num('Queueing delay (ms) at the home router the box tolerates before it slows viewers down (HOUSEHOLD_YIELD: auto): lower protects the household\'s calls and games more, higher lets viewers keep more of a busy link.', 10, { min: 1, max: 500 }),
  VIEWER_MAX_CONNECTIONS: num('Most simultaneous viewer connections nginx serves; the viewer budget is split between them.', 32, { min: 1, max: 100000, integer: true }),
  UPLOAD_QUOTA_GB: num('Monthly upload quota in GB (10^9 bytes) of what the box serves to viewers, counted per calendar month of the box\'s local time; once used up the box stops serving (503 with Retry-After) until the month ends. The household can override it on the box\'s status page (RUN_DIRECTORY/household.json). 0: no quota.', 0, { min: 0 }),
  QUIET_HOURS: str('Local-time ranges when the box serves no viewers, comma-separated HH:MM-HH:MM; a range may cross midnight (23:00-07:00). The household can override it on the box\'s status page. Empty: none.', '', checkQuietHours),
  UPLOAD_CAP_MBIT: num('Hard ceiling on what viewers take from the box all together, in Mbit/s, whatever the measured capacity. The household can override it on the box\'s status page. 0: no cap.', 0, { min: 0 }),
} satisfies Schema;
export type AgentConfig = ConfigOf<typeof AGENT_SCHEMA>;

/**
 * Keys only the SD card image's first boot reads, from the same dandelion.yaml on the boot partition that
 * holds the agent's keys (provisioning/README.md). The agent ignores them.
 */
export const PROVISION_SCHEMA = {
  WIFI_COUNTRY: optionalStr('Two-letter country code for the Wi-Fi regulatory domain (required with WIFI_SSID). (SD image only.)', (s) => (/^[A-Z]{2}$/.test(s) ? undefined : 'must be a two-letter country code such as GB')),
  WIFI_SSID: optionalStr('Wi-Fi network the box joins; empty: wired only. (SD image only.)', (s) => (Buffer.byteLength(s) <= 32 && !/[\x00-\x1f"\\]/.test(s) ? undefined : 'must be at most 32 bytes without control characters, quotes or backslashes')),
  WIFI_PASSPHRASE: optionalStr('WPA2 passphrase of WIFI_SSID (8-63 characters); empty: an open network. (SD image only.)', (s) => (/^[\x20-\x7e]{8,63}$/.test(s) && !/["\\]/.test(s) ? undefined : 'must be 8-63 printable ASCII characters without quotes or backslashes')),
  SSH_AUTHORIZED_KEYS: list('SSH public keys allowed to log in (as root; the image has no password for anyone); empty: SSH stays off. (SD image only.)', [], (s) => (/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/=]+( [^\n]*)?$/.test(s) ? undefined : 'must be one OpenSSH public key line (ssh-ed25519 AAAA… comment)')),
} satisfies Schema;
export type ProvisionConfig = ConfigOf<typeof PROVISION_SCHEMA>;

export const PUBLISHER_SCHEMA = {
  ID: optionalStr('This publisher\'s ID (publisher-…). Default: the one its ENROLMENT_TOKEN is for, else generated at first start and kept in RUN_DIRECTORY/publisher-id.', idOf('PUBLISHER')),
  ...COMMON_SCHEMA,
  ENTRANCE_URLS: list('Entrance WebSocket URLs the publisher starts from; more are learnt from replies.', ['ws://127.0.0.1:7071/dandelion/ws/'], checkWsUrl),
  MIN_HTTP_PEERS: num('Boxes the publisher keeps connections to (the best ranked).', 20, { min: 1, max: 1000, integer: true }),
  PUBLISHER_PING_ENTRANCE_FREQ: num('Seconds between the publisher\'s SEARCH requests.', 10, { min: 0.1, max: 3600 }),
  PUBLISHER_WATCH_DIRECTORY: str('The encoder\'s output folder: every finished file that appears in it is sent to boxes, and the web server serves it as the origin.', '/var/lib/dandelion/publisher/live'),
  PUBLISHER_HTTP_IP: str('Address the publisher\'s web server (viewer page, playlists, redirects, origin) binds to.', '0.0.0.0', checkHost),
  PUBLISHER_HTTP_PORT: listenPort('Port of the publisher\'s web server.', 8080),
  VIEWER_TLS_CERT_FILE: str('PEM certificate chain (leaf first) the publisher\'s web server serves HTTPS with; set together with VIEWER_TLS_KEY_FILE. Viewers on HTTPS get segments from boxes\' HTTPS_URL only (a box without one is skipped: its http:// URL would be blocked as mixed content). Empty: plain HTTP.', ''),
  VIEWER_TLS_KEY_FILE: str('PEM private key of VIEWER_TLS_CERT_FILE; set together with it. Empty: plain HTTP.', ''),
  METRICS_PORT: num('Port of the publisher\'s Prometheus /metrics (on METRICS_IP); 0: none.', 9111, { min: 0, max: 65535, integer: true }),
  METRICS_IP: str('Address the publisher\'s /metrics binds to: loopback by default, so viewers reaching PUBLISHER_HTTP_IP cannot read it; 0.0.0.0 for a Prometheus elsewhere.', '127.0.0.1', checkHost),
  REPLICAS: num('Distinct boxes each file is sent to; a file counts as delivered to a box only when its reply confirms size and SHA-256.', 2, { min: 1, max: 16, integer: true }),
  HOLD_BACK: num('Seconds a new live segment waits for its REPLICAS confirmations before the rewritten playlist lists it anyway, pointing at the origin.', 1, { min: 0, max: 60 }),
  FILE_TTL: num('Seconds boxes keep a file from the watched folder (files pushed or queued carry their own TTL).', 120, { min: 1, max: 7 * 24 * 3600 }),
  SEND_TIMEOUT: num('Seconds to wait for a box\'s reply to one file before trying another box.', 15, { min: 1, max: 600 }),
  ENROLMENT_TOKEN: optionalStr('Publisher token (from `dandelion entrance publisher create NAME`) the publisher presents once, with its public key, to enrol; afterwards the key (RUN_DIRECTORY/publisher-key.pem) alone authenticates it. Its ID is then publisher-NAME.', (s) => (parsePublisherToken(s) ? undefined : 'must be a publisher token as printed by `dandelion entrance publisher create` (dlp_…)')),
  RUN_DIRECTORY: str('Folder for the publisher\'s own state (its generated ID, its key).', '/var/lib/dandelion/publisher'),
  GEOIP: record('The publisher\'s place {…, LOC: "lat,lon"}, sent with SEARCH so the entrance ranks nearby boxes first.', decodeGeoIp),
  AUDIT_RATE: num('Fraction of the copies boxes confirm that the publisher fetches back from the box, as a viewer would, a few seconds later and compares by SHA-256; a box serving other bytes is quarantined (no longer listed, reported to the entrance). A box a viewer reports is audited at once whatever this is. 0: no sampled audits.', 0.05, { min: 0, max: 1 }),
  GEOIP_DATABASE: optionalStr('A MaxMind-format city database (.mmdb) for viewers\' addresses, so each viewer is pointed at the nearest box. Empty: no lookup; boxes are chosen by rank.'),
} satisfies Schema;
export type PublisherConfig = ConfigOf<typeof PUBLISHER_SCHEMA>;

/**
 * Retired keys, each with its replacement (docs/compatibility.md): the loader reports a value that would change
 * meaning as a problem naming the key (exit 2), and a harmless leftover as a warning.
 */
export const RETIRED_KEYS: Readonly<Record<string, { replacedBy: string; check(raw: unknown): { problem: string } | { warning: string } }>> = {
  TRUST_PROXY: {
    replacedBy: 'TRUSTED_PROXIES',
    check: (raw) =>
      raw === false || (typeof raw === 'string' && ['false', 'no', 'off', '0'].includes(raw.trim().toLowerCase()))
        ? { warning: 'TRUST_PROXY is gone and false is the default now (TRUSTED_PROXIES: []); remove the key' }
        : { problem: 'was replaced by TRUSTED_PROXIES, which trusts forwarded headers only from the addresses listed: list your proxy\'s addresses or CIDRs there (for example [127.0.0.1]) and remove TRUST_PROXY' },
  },
};

export const SCHEMAS = { entrance: ENTRANCE_SCHEMA, agent: AGENT_SCHEMA, publisher: PUBLISHER_SCHEMA, provision: PROVISION_SCHEMA } as const;
export type Role = keyof typeof SCHEMAS;

export function isRole(name: string): name is Role {
  return Object.hasOwn(SCHEMAS, name);
}

