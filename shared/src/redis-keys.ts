/**
 * Every Redis key Dandelion uses is built here and nowhere else. The original's namespaces
 * (`{ID}:BOX_SET`, `{ID}:EXCHANGE:<box_id>` …, where {ID} is the role's own ID) are wire contract:
 * tools written against the original read them, so those are only ever added to, never renamed. On a
 * Redis Cluster (KeyLayout 'cluster') the same names carry a hash tag in front: a different layout an
 * operator moves to (docs/scale.md), never a rename of the single-Redis one.
 */
import { isIdOf } from './protocol/messages.js';

/**
 * How keys are laid out. `single`: the original's names, for one Redis. `cluster`: the same names with a
 * hash tag (`{…}`) in front, so that every key a script or MULTI touches together hashes to one slot of
 * a Redis Cluster, and the registry split into REGISTRY_SHARDS shards (docs/scale.md, "Redis Cluster").
 */
export type KeyLayout = 'single' | 'cluster';

/**
 * Shards of an entrance namespace's registry on a cluster. Each shard's keys share one slot, so a box's
 * write and a sweep batch stay one script; SEARCH asks every shard and merges. 16 spreads a million
 * boxes' GEO index over as many keys (and nodes) without making SEARCH's fan-out costly.
 */
export const REGISTRY_SHARDS = 16;

/** The registry keys of one shard: a box's own keys and the indexes that list it. */
function registryShardKeys(prefix: string) {
  return {
    /** Sorted set: box ID → expiry time in seconds since the epoch (now + ENTRANCE_EXPIRE_BOX_TIME). */
    boxSet: `${prefix}:BOX_SET`,
    /** Hash: a box's latest exchange, one field per message key. */
    exchange: (boxId: string) => `${prefix}:EXCHANGE:${boxId}`,
    /** Extension. Geo set: box ID at its GEOIP LOC, for nearest-first SEARCH. */
    boxGeo: `${prefix}:BOX_GEO`,
    /** Extension. Sorted set: box ID → capacity score (spare upload, then free disk) for SEARCH. */
    boxCapacity: `${prefix}:BOX_CAPACITY`,
    /**
     * Extension. Sorted set: box ID → expiry (as in boxSet) of a box whose last EXCHANGE said it is paused
     * for this reason (PAUSED: `quota` or `quiet-hours`). Such a box is kept out of boxGeo and boxCapacity,
     * so SEARCH never lists it; these sets count it for the metrics.
     */
    boxPaused: (reason: string) => `${prefix}:BOX_PAUSED:${reason}`,
    /** Extension. Sorted set: one JSON reading a minute for a box's history charts (score: minute start). */
    boxHistory: (boxId: string) => `${prefix}:HISTORY:${boxId}`,
  } as const;
}
export type RegistryShardKeys = ReturnType<typeof registryShardKeys>;

/** Which of `shardCount` shards holds `boxId`: FNV-1a of its UTF-16 code units, so every entrance and tool agrees. */
export function registryShardIndex(boxId: string, shardCount: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < boxId.length; i++) hash = Math.imul(hash ^ boxId.charCodeAt(i), 0x01000193) >>> 0;
  return hash % shardCount;
}

/** The registry keys of the shard holding `boxId` (the only shard with one Redis). */
export function shardKeysOf(keys: { shards: readonly RegistryShardKeys[] }, boxId: string): RegistryShardKeys {
  const shard = keys.shards[registryShardIndex(boxId, keys.shards.length)];
  if (shard === undefined) throw new Error('a key layout has no registry shards');
  return shard;
}

/**
 * Keys of an entrance namespace `me` (an entrance's ID). With `layout` 'cluster' every key carries a hash
 * tag: `{me}` for the namespace's own keys, `{me:N}` for registry shard N's.
 */
export function entranceKeys(me: string, layout: KeyLayout = 'single') {
  const ns = roleNamespace(me, layout);
  const shards = layout === 'single' ? [registryShardKeys(me)] : Array.from({ length: REGISTRY_SHARDS }, (_, i) => registryShardKeys(`{${me}:${i}}`));
  const only = shards[0] ?? registryShardKeys(me);
  return {
    /** Hash: this entrance's ID, IP, PORT, TYPE, URL (refreshed every few seconds). */
    ownInfo: `${ns}:OWN_INFO`,
    /** Set: other entrances' URLs, told to boxes and publishers; seeded from ENTRANCE_OTHER_URLS. */
    entranceUrls: `${ns}:ENTRANCE_URLS`,
    /** The registry: one shard with one Redis (the original's names below), REGISTRY_SHARDS on a cluster. */
    shards,
    /**
     * Sorted set: box ID → expiry time in seconds since the epoch (now + ENTRANCE_EXPIRE_BOX_TIME). This and
     * boxGeo, boxCapacity and boxPaused name the registry's indexes with one Redis; on a cluster they are per
     * shard (`shards`, shardKeysOf) and these names hold nothing.
     */
    boxSet: only.boxSet,
    /** Hash: a box's latest exchange, one field per message key (in the box's shard). */
    exchange: (boxId: string) => shardKeysOf({ shards }, boxId).exchange(boxId),
    /** Extension. Geo set: box ID at its GEOIP LOC, for nearest-first SEARCH (one Redis; see boxSet). */
    boxGeo: only.boxGeo,
    /** Extension. Sorted set: box ID → capacity score for SEARCH (one Redis; see boxSet). */
    boxCapacity: only.boxCapacity,
    /** Extension. Sorted set: box ID → expiry of a box paused for this reason (one Redis; see boxSet). */
    boxPaused: only.boxPaused,
    /** Extension. Hash: box ID → JSON summary for the dashboard, kept BOX_HISTORY_DAYS after it went offline. */
    boxSummary: `${ns}:BOX_SUMMARY`,
    /** Extension. Sorted set: one JSON reading a minute for a box's history charts (score: minute start), in the box's shard. */
    boxHistory: (boxId: string) => shardKeysOf({ shards }, boxId).boxHistory(boxId),
    /** Extension. Hash {USERNAME, CSRF} with TTL: a dashboard login. */
    session: (sessionId: string) => `${ns}:SESSION:${sessionId}`,
    /** Extension. Sorted set of login attempt IDs by time (ms), with TTL: a client's (IPv4 address, IPv6 /64) recent dashboard logins. */
    loginFailures: (client: string) => `${ns}:LOGIN_FAILURES:${client}`,
    /**
     * Extension. Hash: publisher ID → JSON {LAST_SEEN, IP} of publishers that searched here. SEARCH needs no
     * credentials, so the fields are kept only while publishersSeen lists them (capped, expiring).
     */
    publishers: `${ns}:PUBLISHERS`,
    /**
     * Extension. Sorted set: publisher ID → time of its last SEARCH here (seconds since the epoch). Entries
     * older than PUBLISHER_RECORD_DAYS, and the oldest beyond MAX_PUBLISHER_RECORDS, are dropped together
     * with their field in `publishers`; the dashboard reads the newest from here.
     */
    publishersSeen: `${ns}:PUBLISHERS_SEEN`,
  } as const;
}
export type EntranceKeys = ReturnType<typeof entranceKeys>;

/**
 * The prefix of a box's or a publisher's own namespace: its ID with one Redis (the original's names), `{ID}`
 * on a cluster. One hash tag for the whole namespace puts all of it in one slot, so every script, MULTI,
 * pipeline and BLMOVE of the role stays on one node. A box or a publisher holds little (its expiry list, a
 * minute or two of traffic records, its queue and the files it sent in the last TTL), so one slot is
 * plenty; spreading it would only make its commands cross slots. Many boxes and publishers sharing a
 * cluster still spread over every node: their IDs differ, and so do their slots.
 */
function roleNamespace(me: string, layout: KeyLayout): string {
  return layout === 'single' ? me : `{${me}}`;
}

/**
 * Keys of a box with ID `me`, in the box's own Redis. With `layout` 'cluster' each carries the hash tag
 * `{me}` (roleNamespace).
 */
export function boxKeys(me: string, layout: KeyLayout = 'single') {
  const ns = roleNamespace(me, layout);
  return {
    /** Hash: the box's own latest readings, sent with every EXCHANGE. */
    selfExchange: `${ns}:SELF_EXCHANGE`,
    /** Hash with TTL: the latest message from a peer (the original's `{ID}:EXCHANGE`); see publisherRecords. */
    exchange: (peerId: string) => `${ns}:EXCHANGE:${peerId}`,
    /** Hash with TTL: a publisher that did the PUBLISH handshake (kept while publisherRecords lists it). */
    subscribe: (publisherId: string) => `${ns}:SUBSCRIBE:${publisherId}`,
    subscribePattern: `${ns}:SUBSCRIBE:*`,
    exchangePattern: `${ns}:EXCHANGE:*`,
    /**
     * Extension. Sorted set: publisher ID → deadline (seconds since the epoch) of its `subscribe` and
     * `exchange` hashes, which expire then. PUBLISH needs no credentials: at most MAX_PUBLISHER_RECORDS
     * publishers are kept, the earliest deadline dropped first.
     */
    publisherRecords: `${ns}:PUBLISHER_RECORDS`,
    /** Sorted set: stored file path → deadline in seconds since the epoch. */
    expireFiles: `${ns}:EXPIRE_FILES`,
    /** Hash with TTL: one nginx access-log line, `{datetime, url, status, size}`. */
    trafficFlow: (logId: string) => `${ns}:TRAFFIC_FLOW:log-${logId}`,
    trafficFlowPattern: `${ns}:TRAFFIC_FLOW:log-*`,
    /**
     * The name a trafficFlow key goes by in an EXCHANGE: always the original's `<ID>:TRAFFIC_FLOW:log-<id>`
     * (wire contract; the entrance checks that the box names itself), whatever the layout in Redis.
     */
    trafficFlowOnWire: (key: string) => (key.startsWith(`${ns}:`) ? `${me}${key.slice(ns.length)}` : key),
    /** Extension. Hash: aggregate ID → JSON TrafficAggregate not yet acknowledged by an entrance. */
    trafficPending: `${ns}:TRAFFIC_PENDING`,
    /**
     * Extension. List of JSON {KEY, FIELD?, ENTRY, ERROR, AT}: stored traffic (a TRAFFIC_PENDING field or a
     * TRAFFIC_FLOW record) the protocol's decoder refused, moved aside for the operator instead of being
     * sent; the newest MAX_REJECTED_TRAFFIC are kept.
     */
    trafficRejected: `${ns}:TRAFFIC_PENDING:REJECTED`,
    /** Extension. Hash {path, inode, offset}: how far the access log has been turned into records. */
    trafficOffset: `${ns}:TRAFFIC_OFFSET`,
  } as const;
}
export type BoxKeys = ReturnType<typeof boxKeys>;

/** Keys of a publisher with ID `me`. With `layout` 'cluster' each carries the hash tag `{me}` (roleNamespace). */
export function publisherKeys(me: string, layout: KeyLayout = 'single') {
  const ns = roleNamespace(me, layout);
  return {
    selfInfo: `${ns}:SELF_INFO`,
    /** Hash: a box as the last SEARCH reply described it. */
    search: (boxId: string) => `${ns}:SEARCH:${boxId}`,
    /** Sorted set: box ID → rank score, best highest. */
    boxRanking: `${ns}:BOX_RANKING`,
    /** List of JSON `{"FILE_PATH", "TTL"}` tasks; any program may LPUSH/RPUSH into it. */
    sendingQueue: `${ns}:FILE:FILES_SENDING_QUEUE`,
    /**
     * Extension. List: queue entries taken (LMOVE from sendingQueue) and not finished yet, removed when
     * their delivery ends; a publisher starting takes up what a killed one left here, so none is lost.
     */
    sendingProcessing: `${ns}:FILE:FILES_SENDING_PROCESSING`,
    boxList: `${ns}:FILE:BOX_LIST`,
    /** Extension. List of {"TASK", "ERROR"}: queue entries that could not be read, kept for the operator. */
    rejectedQueue: `${ns}:FILE:REJECTED`,
    /** Where a sent file is held: the boxes and their URLs, until its TTL passes. */
    processedFile: (filePath: string) => `${ns}:FILE:PROCESSED_FILES:${filePath}`,
  } as const;
}
export type PublisherKeys = ReturnType<typeof publisherKeys>;

/**
 * The prefix of a fleet-wide namespace: `dandelion:<NAME>:` with one Redis; `{dandelion:<NAME>}:` on a
 * cluster, so that the scripts and transactions within the namespace stay in one slot. Namespaces whose
 * commands each touch one key (reachability, ACME) keep their names on a cluster too.
 */
function fleetPrefix(name: string, layout: KeyLayout): string {
  return layout === 'single' ? `dandelion:${name}:` : `{dandelion:${name}}:`;
}

/**
 * Extension. Keys of box enrolment (docs/enrolment.md). Fleet-wide under `dandelion:ENROL:`, like the
 * traffic keys and for the same reason: a box enrolled through one entrance must be recognised by every
 * entrance sharing the Redis, and a token's use count must be one count.
 */
export function enrolmentKeys(layout: KeyLayout = 'single') {
  const p = fleetPrefix('ENROL', layout);
  return {
    /** String: the HMAC key challenges are made with, created once by the first entrance (SET NX). */
    challengeSecret: `${p}CHALLENGE_SECRET`,
    /** String with TTL: a challenge already answered (SET NX), so a signed upgrade cannot be replayed. */
    usedNonce: (nonce: string) => `${p}USED:${nonce}`,
    /** Hash {SECRET_HASH, CREATED, EXPIRES, MAX_USES, USES, REVOKED, NOTE}: one fleet token. */
    token: (tokenId: string) => `${p}TOKEN:${tokenId}`,
    /** Sorted set: token ID → creation time. */
    tokens: `${p}TOKENS`,
    /** Hash {PUBLIC_KEY, STATE: enrolled|revoked, TOKEN, ENROLLED_AT, REVOKED_AT, IP}: one box. */
    box: (boxId: string) => `${p}BOX:${boxId}`,
    /** Sorted set: box ID → time of its last enrolment or revocation. */
    boxes: `${p}BOXES`,
    /** Hash: box ID → JSON {SEEN, IP, REASON, FINGERPRINT} of a box that tried and is not (yet) enrolled. */
    pending: `${p}PENDING`,
    /** Pub/sub channel: a box or publisher ID whose enrolment was revoked, forgotten or given a new key; entrances drop its sockets. */
    revokedChannel: `${p}REVOKED`,
  } as const;
}
export type EnrolmentKeys = ReturnType<typeof enrolmentKeys>;

/**
 * Extension. Keys of publisher accounts (entrance/src/publishers/accounts.ts). Fleet-wide, like enrolment: an
 * account made through one entrance admits the publisher at every entrance sharing the Redis. Enrolment's
 * challenges and its revocation channel serve publishers too (enrolmentKeys).
 */
export function publisherAccountKeys(layout: KeyLayout = 'single') {
  const p = fleetPrefix('PUBLISHER', layout);
  return {
    /**
     * Hash {SECRET_HASH, QUOTA_BYTES, CREATED, STATE: created|enrolled|revoked, PUBLIC_KEY, ENROLLED_AT, IP, REVOKED_AT}:
     * one publisher's account, by its publisher ID.
     */
    account: (publisherId: string) => `${p}ACCOUNT:${publisherId}`,
    /** Sorted set: publisher ID → creation time of its account. Revoked publishers are listed in trustKeys().revokedPublishers. */
    accounts: `${p}ACCOUNTS`,
  } as const;
}
export type PublisherAccountKeys = ReturnType<typeof publisherAccountKeys>;

/** Extension. Fleet-wide keys of trust: what every entrance on this Redis signs grants with. */
export function trustKeys(layout: KeyLayout = 'single') {
  const p = fleetPrefix('TRUST', layout);
  return {
    /** Hash: key ID → JSON {PUBLIC_KEY, PRIVATE_KEY, CREATED, RETIRED?} of one fleet signing key (trust/fleet-keys.ts). */
    fleetKeys: `${p}FLEET_KEYS`,
    /** String: the key ID grants are signed with now (SET NX by the first entrance, replaced on rotation). */
    currentFleetKey: `${p}FLEET_KEY_CURRENT`,
    /** Set: IDs of revoked publishers, told to boxes in EXCHANGE replies (REVOKED_PUBLISHERS) so they refuse them and delete their files. */
    revokedPublishers: `${p}REVOKED_PUBLISHERS`,
    /** Sorted set: box ID → until when (seconds since the epoch) it is left out of SEARCH, a publisher's audit having caught it. */
    quarantine: `${p}QUARANTINE`,
    /** Hash: box ID → JSON {REASON, PATH, PUBLISHER, AT, UNTIL} of its quarantine, for the dashboard. */
    quarantineReasons: `${p}QUARANTINE:REASONS`,
    /** String with a day's TTL: how many boxes one publisher quarantined since the key was made. */
    quarantinedBy: (publisherId: string) => `${p}QUARANTINE:BY:${publisherId}`,
  } as const;
}
export type TrustKeys = ReturnType<typeof trustKeys>;

/**
 * Extension. Fleet-wide keys of boxes' reachability (entrance/src/reachability/), under `dandelion:` like
 * enrolment: a box heartbeats to one entrance, and SEARCH at every entrance must see its verdict.
 */
export function reachabilityKeys() {
  const p = 'dandelion:REACHABILITY:';
  return {
    /**
     * Hash {verdict, method, advice, probes, at} with the TTL of the box's registry entry
     * (ENTRANCE_EXPIRE_BOX_TIME, refreshed by every EXCHANGE); deleted when the box is revoked.
     */
    box: (boxId: string) => `${p}${boxId}`,
  } as const;
}
export type ReachabilityKeys = ReturnType<typeof reachabilityKeys>;

/**
 * Extension. Fleet-wide keys of box certificates (entrance/src/acme/): every entrance on this Redis answers
 * DNS for BOX_DOMAIN, so the DNS-01 TXT record one entrance publishes must be readable by all of them, and
 * one ACME account and one rate count per box serve the whole fleet.
 */
export function acmeKeys() {
  const p = 'dandelion:ACME:';
  return {
    /** Set with a short TTL: the TXT values of `_acme-challenge.<box-name>` while an order for that name is validated. */
    challenge: (boxName: string) => `${p}CHALLENGE:${boxName}`,
    /** String: the ACME account's private key (PEM), created once by the first entrance that orders (SET NX). */
    accountKey: `${p}ACCOUNT_KEY`,
    /** String with an hour's TTL: how many CERTIFY orders a box started since the key was made. */
    certifyCount: (boxId: string) => `${p}CERTIFY:${boxId}`,
  } as const;
}
export type AcmeKeys = ReturnType<typeof acmeKeys>;

/** Extension. How finely traffic is bucketed in time. */
export type TrafficResolution = 'minute' | 'hour' | 'day';
const RESOLUTION_SEGMENT: Readonly<Record<TrafficResolution, string>> = { minute: 'MINUTE', hour: 'HOUR', day: 'DAY' };

/**
 * Extension. Keys of the traffic accounting the entrances fold boxes' TRAFFIC_AGGREGATES into.
 *
 * Unlike every other builder here these keys are NOT under an entrance's own ID but under the fixed,
 * fleet-wide prefix `dandelion:TRAFFIC:`. A box sends the same pending aggregates to every entrance it
 * knows until one accepts them, and several entrances may share one Redis; each aggregate must be counted
 * once for the fleet, so the dedupe markers and the counters they guard must be the same keys whichever
 * entrance folds the aggregate. Under `{ID}:` two entrances would each count it, and a box's traffic
 * would be split across as many namespaces as entrances it happened to reach.
 *
 * Buckets are hashes `{bytes, requests}`; `t` is the bucket's start in whole seconds since the epoch (UTC).
 * `'-'` stands for "no publisher" in the by-publisher breakdowns; it is never a publisher's own key.
 */
export function trafficKeys(layout: KeyLayout = 'single') {
  const p = fleetPrefix('TRAFFIC', layout);
  return {
    prefix: p,
    /** Field standing for traffic that named no publisher (publisher IDs all start with `publisher-`). */
    noPublisher: '-',
    /** String with TTL: aggregate `aggregateId` of `boxId` has been counted (set NX before counting). */
    seen: (boxId: string, aggregateId: string) => `${p}SEEN:${boxId}:${aggregateId}`,
    /** Hash {bytes, requests} with TTL: the whole fleet's traffic in one bucket. */
    fleetBucket: (resolution: TrafficResolution, t: number) => `${p}FLEET:${RESOLUTION_SEGMENT[resolution]}:${t}`,
    /** Hash {bytes, requests} with TTL: one box's traffic in one bucket. */
    boxBucket: (boxId: string, resolution: TrafficResolution, t: number) => `${p}BOX:${boxId}:${RESOLUTION_SEGMENT[resolution]}:${t}`,
    /** Hash {bytes, requests} with TTL: traffic of one publisher's files (any box) in one bucket. */
    publisherBucket: (publisherId: string, resolution: TrafficResolution, t: number) =>
      `${p}PUBLISHER:${publisherId}:${RESOLUTION_SEGMENT[resolution]}:${t}`,
    /** Hash {bytes, requests}, no expiry: all-time totals. */
    fleetTotal: `${p}FLEET:TOTAL`,
    boxTotal: (boxId: string) => `${p}BOX:${boxId}:TOTAL`,
    publisherTotal: (publisherId: string) => `${p}PUBLISHER:${publisherId}:TOTAL`,
    /** Hash, no expiry: box ID → all-time bytes it served. */
    fleetBoxes: `${p}FLEET:BOXES`,
    /** Hash, no expiry: publisher ID (or '-') → all-time bytes served by the fleet. */
    fleetPublishers: `${p}FLEET:PUBLISHERS`,
    /** Hash, no expiry: publisher ID (or '-') → all-time bytes this box served. */
    boxPublishers: (boxId: string) => `${p}BOX:${boxId}:PUBLISHERS`,
    /** Hash, no expiry: box ID → all-time bytes it served of this publisher's files. */
    publisherBoxes: (publisherId: string) => `${p}PUBLISHER:${publisherId}:BOXES`,
    /**
     * Hash, no expiry: box ID → bytes it reported beyond what its measured upload could carry (not
     * counted anywhere else; traffic/plausible.ts). One field per box, saturating at 2^53.
     */
    fleetImplausible: `${p}FLEET:IMPLAUSIBLE`,
    /**
     * Hash, no expiry: box ID → bytes it reported for publishers the entrance does not know (not counted
     * anywhere else; a warning sign, so not deduplicated: a redelivery adds again). Saturates at 2^53.
     */
    fleetUnknownPublisher: `${p}FLEET:UNKNOWN_PUBLISHER`,
    /** Hash {total, reported, since, seen}: bytes a publisher's own origin served (from its SEARCH reports). */
    origin: (publisherId: string) => `${p}ORIGIN:${publisherId}`,
    /** Set: publishers that reported origin traffic (those `originSeen` lists). */
    originPublishers: `${p}ORIGIN:PUBLISHERS`,
    /**
     * Sorted set: publisher → time of its last origin report (seconds). SEARCH may come without credentials
     * (REQUIRE_PUBLISHER_AUTH false), so a publisher silent for PUBLISHER_RECORD_DAYS, or the oldest beyond MAX_PUBLISHER_RECORDS, is retired:
     * its `origin` hash and its place in `originPublishers` go; its bytes stay in `originTotal`.
     */
    originSeen: `${p}ORIGIN:SEEN`,
    /** Hash {total}: origin bytes every publisher reported, retired ones included (the offload ratio's). */
    originTotal: `${p}ORIGIN:TOTAL`,
  } as const;
}
export type TrafficKeys = ReturnType<typeof trafficKeys>;

/**
 * Extension. Fleet-wide keys of updates over the air (entrance/src/updates/, docs/updates.md): a release
 * uploaded through one entrance is served by all of them, and a fleet has one rollout, whichever entrance
 * its boxes heartbeat to. One hash tag on a cluster, so an upload's rename and a rollout's scripts stay in
 * one slot.
 */
export function releaseKeys(layout: KeyLayout = 'single') {
  const p = fleetPrefix('RELEASE', layout);
  return {
    /** Hash: `<version>:<arch>` → the release's signed manifest line (shared/src/release/manifest.ts). */
    releases: `${p}RELEASES`,
    /** String: the agent binary of one release, read in GETRANGE chunks by downloads. */
    binary: (version: string, arch: string) => `${p}BINARY:${version}:${arch}`,
    /** String with a short TTL: an upload still arriving (APPENDed to), renamed to `binary` once verified. */
    upload: (uploadId: string) => `${p}UPLOAD:${uploadId}`,
    /** Hash {ID, VERSION, STATE, PERCENT, GROUP, STAGES, STAGE, …}: the fleet's current rollout (one at a time). */
    rollout: `${p}ROLLOUT`,
    /** Sorted set: box ID → when rollout `rolloutId` first offered it the update (ms). This and the next four expire 30 days after another rollout starts. */
    offered: (rolloutId: string) => `${p}ROLLOUT:${rolloutId}:OFFERED`,
    /** Sorted set: box ID → when it first reported the rollout's version (ms). */
    updated: (rolloutId: string) => `${p}ROLLOUT:${rolloutId}:UPDATED`,
    /** Sorted set: box ID → when it first reported UPDATE_FAILED for the rollout's version (ms). */
    failed: (rolloutId: string) => `${p}ROLLOUT:${rolloutId}:FAILED`,
    /** Hash: box ID → the version it ran when first offered the update (what a rollback returns it to). */
    from: (rolloutId: string) => `${p}ROLLOUT:${rolloutId}:FROM`,
    /**
     * Hash: box ID → JSON {SERVE_ERRORS, AGENT_ERRORS, AGENT_UPTIME (absent when its agent reports none),
     * SERVING, AT (ms)}: the box on its old version, the last time the rollout offered it the update, which its
     * health after the update is compared with.
     */
    before: (rolloutId: string) => `${p}ROLLOUT:${rolloutId}:BEFORE`,
    /** String with a TTL: the entrance deciding the rollout's next step now (SET NX), so one decides at a time. */
    decisionLock: `${p}ROLLOUT_LOCK`,
    /** Set: box IDs of the group an operator named (`dandelion entrance group add`). */
    group: (name: string) => `${p}GROUP:${name}`,
    /** Set: names of the groups. */
    groups: `${p}GROUPS`,
    /** Hash: box ID → JSON {VERSION, ARCH, PREVIOUS, SEEN (ms)} from its last EXCHANGE that named AGENT_VERSION. */
    boxVersions: `${p}BOX_VERSIONS`,
  } as const;
}
export type ReleaseKeys = ReturnType<typeof releaseKeys>;

/** Fleet-wide namespaces that carry a hash tag on a cluster (fleetPrefix); the others keep their names. */
const TAGGED_FLEET_NAMESPACES = ['ENROL', 'PUBLISHER', 'TRUST', 'TRAFFIC', 'RELEASE'] as const;

/**
 * Where a key of the single-Redis layout goes in the cluster layout, for moving a fleet from one Redis to a
 * cluster (entrance/src/registry/move-to-cluster.ts). `namespaces`: the namespaces to move: entrance IDs
 * (and FLEET_ID), and the IDs of boxes and publishers whose own keys move with them. A registry index (BOX_SET, BOX_GEO, BOX_CAPACITY, BOX_PAUSED:<reason>) becomes one key per
 * shard, its members split by box (`index`); any other key keeps its value under its new name (`key`).
 * Undefined: a key of no namespace listed.
 */
export function clusterNameOf(key: string, namespaces: readonly string[]): { key: string } | { index: (boxId: string) => string } | undefined {
  for (const name of TAGGED_FLEET_NAMESPACES) {
    const single = fleetPrefix(name, 'single');
    if (key.startsWith(single)) return { key: fleetPrefix(name, 'cluster') + key.slice(single.length) };
  }
  if (key.startsWith('dandelion:')) return { key };
  const ns = namespaces.find((n) => key.startsWith(`${n}:`));
  if (ns === undefined) return undefined;
  const rest = key.slice(ns.length + 1);
  // A box's or a publisher's own namespace: every key behind {ID}, as boxKeys and publisherKeys lay it out.
  if (isIdOf(ns, 'BOX') || isIdOf(ns, 'PUBLISHER')) return { key: `${roleNamespace(ns, 'cluster')}:${rest}` };
  const cluster = entranceKeys(ns, 'cluster');
  const index = (pick: (shard: RegistryShardKeys) => string) => ({ index: (boxId: string) => pick(shardKeysOf(cluster, boxId)) });
  if (rest === 'BOX_SET') return index((s) => s.boxSet);
  if (rest === 'BOX_GEO') return index((s) => s.boxGeo);
  if (rest === 'BOX_CAPACITY') return index((s) => s.boxCapacity);
  if (rest.startsWith('BOX_PAUSED:')) return index((s) => s.boxPaused(rest.slice('BOX_PAUSED:'.length)));
  if (rest.startsWith('EXCHANGE:')) return { key: cluster.exchange(rest.slice('EXCHANGE:'.length)) };
  if (rest.startsWith('HISTORY:')) return { key: cluster.boxHistory(rest.slice('HISTORY:'.length)) };
  return { key: `{${ns}}:${rest}` };
}
/**
 * Extension. Keys shared by the entrances of one fleet (FLEET_ID; by default an entrance is a fleet of its
 * own), beside the registry they share (entranceKeys(FLEET_ID)).
 */
export function fleetKeys(fleet: string) {
  return {
    /**
     * Sorted set: URL of each live entrance of the fleet → until when (seconds since the epoch) it counts as
     * live. Each entrance refreshes its own entry every ENTRANCE_SWEEP_FREQ and removes it when it stops; every
     * entrance names the live ones in ENTRANCE_URLS, so boxes and publishers can fail over to them.
     */
    entrances: `${fleet}:ENTRANCES`,
  } as const;
}
export type FleetEntranceKeys = ReturnType<typeof fleetKeys>;
