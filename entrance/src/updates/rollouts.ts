/**
 * The fleet's rollout of an agent release (docs/updates.md, "Rollouts at the entrance"): one at a time, its
 * state a hash in Redis that every entrance of the fleet reads (releaseKeys().rollout). EXCHANGE asks it for
 * the box's offer (offerFor) and records what the box reports; the background pass of every entrance calls
 * decide(), which advances the stage while health holds and halts the rollout when it does not. Every change
 * of state is a compare-and-set script (the state an operator or another entrance saw is the one changed), and
 * decide() runs under a short lock, so several entrances deciding at once take one step, not several.
 *
 * offerFor runs on every heartbeat of every box, so it costs a steady box no Redis command at all: the rollout
 * (with its releases and group) is read at most once a second per entrance, the box's version record is
 * written only when it changes (or to keep it fresh, a few times per ENTRANCE_EXPIRE_BOX_TIME), and the box
 * sets are read only for the boxes the rollout concerns (selected and not updated yet, or on its version).
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { keyLayoutOfClient } from '../../../shared/src/redis.js';
import { defineScripts } from '../../../shared/src/redis-scripts.js';
import { releaseKeys } from '../../../shared/src/redis-keys.js';
import type { ReleaseKeys as ReleaseKeyNames } from '../../../shared/src/redis-keys.js';
import { isIdOf, readingOf } from '../../../shared/src/protocol/index.js';
import type { BoxExchange, ReachabilityVerdict, UpdateOffer } from '../../../shared/src/protocol/index.js';
import { RELEASE_ARCHES, isVersion } from '../../../shared/src/release/manifest.js';
import { WATCHED_FIRST, haltReason, selectedAt, stagesFor } from './rollout-policy.js';
import type { BoxAfter, BoxBefore, ErrorCounters } from './rollout-policy.js';

export const ROLLOUT_STATES = ['running', 'paused', 'halted', 'complete', 'rolling-back'] as const;
export type RolloutState = (typeof ROLLOUT_STATES)[number];

export interface Rollout {
  ID: string;
  VERSION: string;
  STATE: RolloutState;
  /** The percentage of the boxes it ends at, or undefined for a group. */
  PERCENT: number | undefined;
  GROUP: string | undefined;
  STAGES: number[];
  /** Index in STAGES of the stage now. */
  STAGE: number;
  STAGE_SINCE: number;
  STAGE_SECONDS: number;
  HEARTBEAT_SECONDS: number;
  STARTED: number;
  /** Why it halted (or was paused, rolled back by whom). */
  REASON: string;
}

export interface RolloutStatus {
  ROLLOUT: (Rollout & { STAGE_PERCENT: number; OFFERED: number; UPDATED: number; FAILED: number }) | null;
  /** Boxes per AGENT_VERSION among those heard from within the expiry. */
  VERSIONS: Record<string, number>;
}

export interface StartRequest {
  version: string;
  percent?: number;
  group?: string;
  stages?: number[];
  stageSeconds?: number;
  heartbeatSeconds?: number;
}

/** A request the rollout refuses, in words for the operator (4xx, exit 2). */
export class RolloutRefused extends Error {
  override name = 'RolloutRefused';
}

/** How long the box sets of a finished rollout are kept once another starts. */
const OLD_ROLLOUT_SECONDS = 30 * 86_400;

export const GROUP_NAME = /^[A-Za-z0-9_-]{1,64}$/;

// KEYS[1] the rollout hash; ARGV: n, then n field/value pairs it must hold, then the pairs to set.
const COMPARE_AND_SET = `
local n = tonumber(ARGV[1])
for i = 0, n - 1 do
  if redis.call('HGET', KEYS[1], ARGV[2 + 2 * i]) ~= ARGV[3 + 2 * i] then return 0 end
end
local set = {}
for i = 2 + 2 * n, #ARGV do set[#set + 1] = ARGV[i] end
if #set > 0 then redis.call('HSET', KEYS[1], unpack(set)) end
return 1`;

// KEYS[1] the rollout hash; ARGV: the new rollout's field/value pairs. Refused (returns the state) while the
// current one is running or paused; one halted, complete or rolling back gives way (its reverts end).
const START = `
local s = redis.call('HGET', KEYS[1], 'STATE')
if s == 'running' or s == 'paused' then return s end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV))
return 'ok'`;

const UNLOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

interface RolloutScripts {
  dandelionRolloutSet(rolloutKey: string, ...args: string[]): Promise<number>;
  dandelionRolloutStart(rolloutKey: string, ...fields: string[]): Promise<string>;
  dandelionRolloutUnlock(lockKey: string, owner: string): Promise<number>;
}

/** What the registry knows of boxes now, which decide() reads for the health of the first ones. */
export interface RolloutBoxes {
  /** Each box's expiry in the registry (seconds; its last EXCHANGE + ENTRANCE_EXPIRE_BOX_TIME), null when gone. */
  expiriesOf(boxIds: readonly string[]): Promise<Array<string | null>>;
  /** Its last EXCHANGE as stored, or undefined. */
  exchangeOf(boxId: string): Promise<BoxExchange | undefined>;
  /** The entrances' reachability verdicts (null: none stored). */
  verdictsOf(boxIds: readonly string[]): Promise<Array<{ REACHABILITY: string } | null>>;
}

/** The registry and the verdict store as decide() reads them. */
export function rolloutBoxesOf(
  registry: { expiriesOf(boxIds: readonly string[]): Promise<Array<string | null>>; exchangeOf(boxId: string): Promise<BoxExchange | undefined> },
  verdicts: { read(boxIds: readonly string[]): Promise<Array<{ REACHABILITY: string } | null>> },
): RolloutBoxes {
  return { expiriesOf: (ids) => registry.expiriesOf(ids), exchangeOf: (id) => registry.exchangeOf(id), verdictsOf: (ids) => verdicts.read(ids) };
}

export interface RolloutsDeps {
  redis: Redis;
  now?: () => number;
  /** Boxes heard from within this many seconds count in the fleet's versions (ENTRANCE_EXPIRE_BOX_TIME). */
  activeSeconds: number;
  /** The URL a box downloads a release from (this entrance's own). */
  releaseUrl(version: string, arch: string): string;
  /** The registry, for decide(); the CLI, which never decides, has none. */
  boxes?: RolloutBoxes;
}

/**
 * How long offers use the rollout (its releases, its group) they read: a change made at another entrance or
 * by the CLI reaches this entrance's offers within it; one made here, at once.
 */
const ROLLOUT_CACHE_MS = 1000;

interface RolloutNow {
  rollout: Rollout | undefined;
  /** The rollout version's manifest line per arch (absent: no release for it). */
  releases: Map<string, string>;
  /** The group's boxes, for a rollout to a group. */
  group: ReadonlySet<string> | undefined;
}

/** What this entrance remembers of a box it heard from, so its heartbeats write and read only what changed. */
interface BoxMemory {
  /** The version record last written, without its time. */
  record: string;
  writtenAt: number;
  /** When the box's agent started (now − AGENT-UPTIME), in seconds; undefined for an agent that sends none. */
  agentStartedS?: number;
  /** The rollout's FROM for the box, once read (null: the rollout never offered it the update). */
  from?: { rollout: string; version: string | null };
  /** The rollout it was counted updated in, or its UPDATE_FAILED counted in. */
  updatedIn?: string;
  failedIn?: string;
}

export class Rollouts {
  private readonly redis: Redis & RolloutScripts;
  private readonly keys: ReleaseKeyNames;
  private readonly now: () => number;
  private readonly lockOwner = randomBytes(9).toString('base64url');
  private rolloutNow: { at: number; value: Promise<RolloutNow> } | undefined;
  private readonly boxMemory = new Map<string, BoxMemory>();
  private lastForgotten = 0;

  constructor(private readonly deps: RolloutsDeps) {
    this.redis = defineScripts<RolloutScripts>(deps.redis, {
      dandelionRolloutSet: { numberOfKeys: 1, lua: COMPARE_AND_SET },
      dandelionRolloutStart: { numberOfKeys: 1, lua: START },
      dandelionRolloutUnlock: { numberOfKeys: 1, lua: UNLOCK },
    });
    this.keys = releaseKeys(keyLayoutOfClient(deps.redis));
    this.now = deps.now ?? Date.now;
  }

  async current(): Promise<Rollout | undefined> {
    return parseRollout(await this.redis.hgetall(this.keys.rollout));
  }

  async start(req: StartRequest): Promise<Rollout> {
    if (!isVersion(req.version)) throw new RolloutRefused('the version is not MAJOR.MINOR.PATCH[-PRERELEASE]');
    if ((req.percent === undefined) === (req.group === undefined)) throw new RolloutRefused('name either a percentage of the boxes or a group');
    let stages: number[];
    try {
      stages = req.group === undefined ? stagesFor(req.percent as number, req.stages) : stagesFor(100, req.stages ?? [100]);
    } catch (err) {
      throw new RolloutRefused((err as Error).message);
    }
    const stageSeconds = req.stageSeconds ?? 1800;
    const heartbeatSeconds = req.heartbeatSeconds ?? 5;
    for (const [name, v] of [['stage seconds', stageSeconds], ['heartbeat seconds', heartbeatSeconds]] as const) {
      if (!Number.isFinite(v) || v <= 0 || v > 30 * 86400) throw new RolloutRefused(`the ${name} are a positive number of seconds`);
    }
    if (req.group !== undefined && (await this.redis.scard(this.keys.group(req.group))) === 0) throw new RolloutRefused(`there is no group ${req.group} (dandelion entrance group add)`);
    const fields = await this.redis.hkeys(this.keys.releases);
    if (!fields.some((f) => f.startsWith(`${req.version}:`))) throw new RolloutRefused(`no release ${req.version} has been uploaded (dandelion entrance release upload)`);
    const previous = await this.current();
    const now = this.now();
    const rollout: Rollout = {
      ID: `${req.version}-${now.toString(36)}`, VERSION: req.version, STATE: 'running', PERCENT: req.percent, GROUP: req.group,
      STAGES: stages, STAGE: 0, STAGE_SINCE: now, STAGE_SECONDS: stageSeconds, HEARTBEAT_SECONDS: heartbeatSeconds, STARTED: now, REASON: '',
    };
    const answer = await this.changed(this.redis.dandelionRolloutStart(this.keys.rollout, ...Object.entries(serialise(rollout)).flat()));
    if (answer !== 'ok') throw new RolloutRefused(`a rollout is ${String(answer)}: roll it back, or let it complete, before starting another`);
    if (previous !== undefined) {
      // The last rollout's boxes are of no use to the new one; kept a while for an operator's questions.
      const batch = this.redis.multi();
      for (const set of [this.keys.offered, this.keys.updated, this.keys.failed, this.keys.from, this.keys.before]) batch.expire(set(previous.ID), OLD_ROLLOUT_SECONDS);
      await batch.exec();
    }
    return rollout;
  }

  /** Pause a running (or complete) rollout: no offers, no stage advance. */
  pause(reason = 'paused by an operator'): Promise<Rollout> {
    return this.change(['running', 'complete'], { STATE: 'paused', REASON: reason }, 'only a running rollout can be paused');
  }

  /** Resume a paused or halted one; its stage's time starts again. */
  resume(): Promise<Rollout> {
    return this.change(['paused', 'halted'], { STATE: 'running', REASON: '', STAGE_SINCE: String(this.now()) }, 'only a paused or halted rollout can be resumed');
  }

  /** Offer the boxes on the rollout's version a revert to the version they ran before it. */
  rollback(reason = 'rolled back by an operator'): Promise<Rollout> {
    return this.change(['running', 'paused', 'halted', 'complete'], { STATE: 'rolling-back', REASON: reason }, 'there is no rollout to roll back');
  }

  private async change(from: readonly RolloutState[], set: Record<string, string>, refusal: string): Promise<Rollout> {
    const r = await this.current();
    if (r === undefined || !from.includes(r.STATE)) throw new RolloutRefused(r === undefined ? 'there is no rollout' : `${refusal} (it is ${r.STATE})`);
    if (!(await this.changed(this.compareAndSet({ ID: r.ID, STATE: r.STATE }, set)))) throw new RolloutRefused('the rollout changed meanwhile; look at its status and try again');
    return (await this.current()) as Rollout;
  }

  private async compareAndSet(expect: Record<string, string>, set: Record<string, string>): Promise<boolean> {
    const args = [String(Object.keys(expect).length), ...Object.entries(expect).flat(), ...Object.entries(set).flat()];
    return (await this.redis.dandelionRolloutSet(this.keys.rollout, ...args)) === 1;
  }

  /**
   * The background pass's step: while running, halt when health fails, else advance the stage once it has
   * lasted STAGE_SECONDS (the last stage held that long: complete). One entrance at a time (a lock that
   * expires if it dies), and each step a compare-and-set on the state it read.
   */
  async decide(): Promise<'halted' | 'advanced' | 'complete' | undefined> {
    const boxes = this.deps.boxes;
    if (boxes === undefined) throw new Error('decide() needs the registry (RolloutsDeps.boxes)');
    const lock = this.keys.decisionLock;
    if ((await this.redis.set(lock, this.lockOwner, 'PX', 30_000, 'NX')) !== 'OK') return undefined;
    try {
      const r = await this.current();
      // A complete rollout still offers its version to boxes that come online, so its health is still watched.
      if (r === undefined || (r.STATE !== 'running' && r.STATE !== 'complete')) return undefined;
      const now = this.now();
      const [[, first] = [], [, updated] = [], [, failed] = []] = (await this.redis.multi()
        .zrange(this.keys.offered(r.ID), String(0), String(WATCHED_FIRST - 1)).zrange(this.keys.updated(r.ID), String(0), String(WATCHED_FIRST - 1)).zcard(this.keys.failed(r.ID)).exec()) ?? [];
      const firstOffered = await this.lastSeen(boxes, first as string[]);
      const firstUpdated = await this.beforeAndAfter(boxes, r, updated as string[]);
      const expect = { ID: r.ID, STATE: r.STATE, STAGE: String(r.STAGE) };
      const why = haltReason({ firstOffered, firstUpdated, failed: Number(failed), now, heartbeatSeconds: r.HEARTBEAT_SECONDS });
      if (why !== undefined) return (await this.changed(this.compareAndSet(expect, { STATE: 'halted', REASON: why }))) ? 'halted' : undefined;
      if (r.STATE === 'complete' || now - r.STAGE_SINCE < r.STAGE_SECONDS * 1000) return undefined;
      if (r.STAGE < r.STAGES.length - 1) {
        return (await this.changed(this.compareAndSet(expect, { STAGE: String(r.STAGE + 1), STAGE_SINCE: String(now) }))) ? 'advanced' : undefined;
      }
      return (await this.changed(this.compareAndSet(expect, { STATE: 'complete' }))) ? 'complete' : undefined;
    } finally {
      await this.redis.dandelionRolloutUnlock(lock, this.lockOwner);
    }
  }

  /**
   * When each box was last heard from (ms): from its registry expiry, which every EXCHANGE sets to now +
   * ENTRANCE_EXPIRE_BOX_TIME; once the registry dropped it, from its version record (written at least every
   * third of that time, so at most that much earlier than its last EXCHANGE).
   */
  private async lastSeen(boxes: RolloutBoxes, boxIds: string[]): Promise<Array<{ boxId: string; seen: number | undefined }>> {
    if (boxIds.length === 0) return [];
    const [expiries, records] = await Promise.all([boxes.expiriesOf(boxIds), this.redis.hmget(this.keys.boxVersions, ...boxIds)]);
    return boxIds.map((boxId, i) => {
      const expiry = Number(expiries[i] ?? NaN);
      if (Number.isFinite(expiry)) return { boxId, seen: (expiry - this.deps.activeSeconds) * 1000 };
      const record = records[i];
      return { boxId, seen: record == null ? undefined : parseRecord(record)?.SEEN };
    });
  }

  /** The first updated boxes as they were on the old version (recorded at the offer) and are now (the registry). */
  private async beforeAndAfter(boxes: RolloutBoxes, r: Rollout, boxIds: string[]): Promise<Array<{ boxId: string; before: BoxBefore | undefined; after: BoxAfter | undefined }>> {
    if (boxIds.length === 0) return [];
    const [befores, exchanges, verdicts] = await Promise.all([
      this.redis.hmget(this.keys.before(r.ID), ...boxIds),
      Promise.all(boxIds.map((id) => boxes.exchangeOf(id))),
      boxes.verdictsOf(boxIds),
    ]);
    return boxIds.map((boxId, i) => {
      const msg = exchanges[i];
      const after: BoxAfter | undefined = msg === undefined ? undefined : {
        // Counters of another version than the rollout's (the box went back by itself) say nothing of it.
        counters: msg.AGENT_VERSION === r.VERSION ? countersOf(msg) : undefined,
        reachability: verdicts[i]?.REACHABILITY,
        paused: typeof msg.PAUSED === 'string' && msg.PAUSED !== '',
      };
      return { boxId, before: parseBefore(befores[i] ?? null), after };
    });
  }

  /**
   * On each EXCHANGE: record what the box reports (its version, an update that failed) and say what to offer
   * it, if anything. A box that names no AGENT_VERSION (an original box) is never offered anything, nor counted.
   * `reachability`: the entrance's verdict on the box this heartbeat, kept with the offer as whether it served
   * before the update.
   */
  async offerFor(msg: BoxExchange, reachability?: ReachabilityVerdict): Promise<UpdateOffer | undefined> {
    const { ID: boxId, AGENT_VERSION: version, AGENT_ARCH: arch } = msg;
    if (version === undefined || version === '') return undefined;
    const now = this.now();
    const memory = await this.rememberVersion(msg, now);
    const { rollout: r, releases, group } = await this.currentForOffers();
    if (r === undefined) return undefined;
    if (version === r.VERSION) return this.onRolloutVersion(r, msg, memory, now);
    // Any box's failure of this version counts against the rollout, offered by it or not: a halt errs safe.
    const failsNow = msg.UPDATE_FAILED === r.VERSION;
    if (failsNow && memory.failedIn !== r.ID) {
      await this.redis.zadd(this.keys.failed(r.ID), 'NX', String(now), boxId);
      memory.failedIn = r.ID;
    }
    if (r.STATE !== 'running' && r.STATE !== 'complete') return undefined;
    const release = arch === undefined ? undefined : releases.get(arch);
    if (failsNow || release === undefined || arch === undefined) return undefined;
    if (group !== undefined && !group.has(boxId)) return undefined;
    if (!selectedAt(boxId, r.STAGES[r.STAGE] ?? 0)) return undefined;
    // Offered it: a box that failed this version once (and no longer says so) is never offered it again.
    if ((await this.redis.zscore(this.keys.failed(r.ID), boxId)) !== null) return undefined;
    // Written on every heartbeat until the box switches (while it downloads): health compares the new
    // version with the old one's last reading, not its first.
    const before = JSON.stringify({ ...beforeOf(msg), SERVING: reachability === 'reachable' && !msg.PAUSED, AT: now });
    await this.redis.multi().zadd(this.keys.offered(r.ID), 'NX', String(now), boxId).hsetnx(this.keys.from(r.ID), boxId, version)
      .hset(this.keys.before(r.ID), boxId, before).exec();
    memory.from = undefined; // set now, if it was not: read again once the box runs the version
    return { ACTION: 'install', VERSION: r.VERSION, ROLLOUT: r.ID, RELEASE: release, URL: this.deps.releaseUrl(r.VERSION, arch) };
  }

  /** A box on the rollout's version: counted updated once (if the rollout offered it), or offered the revert. */
  private async onRolloutVersion(r: Rollout, msg: BoxExchange, memory: BoxMemory, now: number): Promise<UpdateOffer | undefined> {
    const boxId = msg.ID;
    if (memory.from?.rollout !== r.ID) memory.from = { rollout: r.ID, version: await this.redis.hget(this.keys.from(r.ID), boxId) };
    const from = memory.from.version;
    // Updated: a box this rollout offered (it recorded where the box came from) that now runs the version.
    if (from !== null && memory.updatedIn !== r.ID) {
      await this.redis.zadd(this.keys.updated(r.ID), 'NX', String(now), boxId);
      memory.updatedIn = r.ID;
    }
    // Back to what the box ran before this rollout, which it keeps in its other slot.
    if (r.STATE !== 'rolling-back' || from === null || msg.AGENT_PREVIOUS_VERSION !== from) return undefined;
    return { ACTION: 'revert', VERSION: from, ROLLOUT: r.ID };
  }

  /**
   * The box's version record (BOX_VERSIONS), written only when it changed or when the last write is a third of
   * ENTRANCE_EXPIRE_BOX_TIME old (so the fleet's versions still count it): a steady box writes a few times per
   * expiry, not every heartbeat. An agent that started again (its AGENT-UPTIME went back) writes at once, so
   * SEEN tells an operator the new process reported. Boxes not heard from within the expiry are forgotten here too.
   */
  private async rememberVersion(msg: BoxExchange, now: number): Promise<BoxMemory> {
    const activeMs = this.deps.activeSeconds * 1000;
    if (now - this.lastForgotten > activeMs) {
      for (const [boxId, m] of this.boxMemory) if (m.writtenAt < now - activeMs) this.boxMemory.delete(boxId);
      this.lastForgotten = now;
    }
    const fields = { VERSION: msg.AGENT_VERSION, ARCH: msg.AGENT_ARCH ?? '', PREVIOUS: msg.AGENT_PREVIOUS_VERSION ?? '' };
    const record = JSON.stringify(fields);
    const uptime = readingOf(msg, 'AGENT-UPTIME');
    const agentStartedS = uptime === undefined ? undefined : now / 1000 - uptime;
    let memory = this.boxMemory.get(msg.ID);
    // Half a second of slack for the heartbeat's time on the way: a new process starts far later than that
    // after the last one's first heartbeat.
    const restarted = agentStartedS !== undefined && memory?.agentStartedS !== undefined && agentStartedS > memory.agentStartedS + 0.5;
    if (memory === undefined || memory.record !== record || restarted || now - memory.writtenAt >= activeMs / 3) {
      await this.redis.hset(this.keys.boxVersions, msg.ID, JSON.stringify({ ...fields, SEEN: now }));
      // A box that changed version may have been offered the update meanwhile: its FROM is read again.
      memory = { ...memory, record, writtenAt: now, agentStartedS, ...(memory?.record !== record ? { from: undefined } : {}) };
      this.boxMemory.set(msg.ID, memory);
    }
    return memory;
  }

  /** The rollout, its releases and group, read at most once per ROLLOUT_CACHE_MS (one read in flight at a time). */
  private currentForOffers(): Promise<RolloutNow> {
    const at = performance.now();
    if (this.rolloutNow === undefined || at - this.rolloutNow.at > ROLLOUT_CACHE_MS) {
      const value = this.readForOffers();
      const cached = { at, value };
      this.rolloutNow = cached;
      // A failed read is not kept: the next heartbeat reads again.
      value.catch(() => {
        if (this.rolloutNow === cached) this.rolloutNow = undefined;
      });
    }
    return this.rolloutNow.value;
  }

  private async readForOffers(): Promise<RolloutNow> {
    const rollout = await this.current();
    if (rollout === undefined) return { rollout, releases: new Map(), group: undefined };
    const batch = this.redis.multi().hmget(this.keys.releases, ...RELEASE_ARCHES.map((arch) => `${rollout.VERSION}:${arch}`));
    if (rollout.GROUP !== undefined) batch.smembers(this.keys.group(rollout.GROUP));
    const [[, lines] = [], [, members] = []] = (await batch.exec()) ?? [];
    const releases = new Map<string, string>();
    RELEASE_ARCHES.forEach((arch, i) => {
      const line = (lines as Array<string | null> | undefined)?.[i];
      if (typeof line === 'string') releases.set(arch, line);
    });
    return { rollout, releases, group: rollout.GROUP === undefined ? undefined : new Set(members as string[] | undefined) };
  }

  /** A change made here reaches this entrance's offers at once. */
  private async changed<T>(change: Promise<T>): Promise<T> {
    try {
      return await change;
    } finally {
      this.rolloutNow = undefined;
    }
  }

  async status(): Promise<RolloutStatus> {
    const versions = await this.versionCounts();
    const r = await this.current();
    if (r === undefined) return { ROLLOUT: null, VERSIONS: versions };
    const [[, offered] = [], [, updated] = [], [, failed] = []] = (await this.redis.multi().zcard(this.keys.offered(r.ID)).zcard(this.keys.updated(r.ID)).zcard(this.keys.failed(r.ID)).exec()) ?? [];
    return { ROLLOUT: { ...r, STAGE_PERCENT: r.STAGES[r.STAGE] ?? 0, OFFERED: Number(offered), UPDATED: Number(updated), FAILED: Number(failed) }, VERSIONS: versions };
  }

  /** Boxes per AGENT_VERSION heard from within activeSeconds; older records are dropped as they are met. */
  async versionCounts(): Promise<Record<string, number>> {
    const since = this.now() - this.deps.activeSeconds * 1000;
    const counts: Record<string, number> = {};
    const gone: string[] = [];
    for (const [boxId, text] of Object.entries(await this.redis.hgetall(this.keys.boxVersions))) {
      const rec = parseRecord(text);
      if (rec === undefined || rec.SEEN < since) {
        gone.push(boxId);
        continue;
      }
      counts[rec.VERSION] = (counts[rec.VERSION] ?? 0) + 1;
    }
    if (gone.length > 0) await this.redis.hdel(this.keys.boxVersions, ...gone);
    return counts;
  }

  async addToGroup(name: string, boxIds: string[]): Promise<number> {
    checkGroup(name, boxIds);
    const [[, added] = []] = (await this.changed(this.redis.multi().sadd(this.keys.group(name), ...boxIds).sadd(this.keys.groups, name).exec())) ?? [];
    return Number(added);
  }

  /** Remove boxes from a group, or the whole group when none are named. */
  async removeFromGroup(name: string, boxIds: string[]): Promise<number> {
    checkGroup(name, boxIds, true);
    this.rolloutNow = undefined;
    if (boxIds.length === 0) {
      const [[, n] = []] = (await this.redis.multi().scard(this.keys.group(name)).del(this.keys.group(name)).srem(this.keys.groups, name).exec()) ?? [];
      return Number(n);
    }
    const removed = await this.redis.srem(this.keys.group(name), ...boxIds);
    if ((await this.redis.scard(this.keys.group(name))) === 0) await this.redis.srem(this.keys.groups, name);
    return removed;
  }

  async groups(): Promise<Record<string, string[]>> {
    const out: Record<string, string[]> = {};
    for (const name of (await this.redis.smembers(this.keys.groups)).sort()) out[name] = (await this.redis.smembers(this.keys.group(name))).sort();
    return out;
  }
}

function checkGroup(name: string, boxIds: string[], mayBeEmpty = false): void {
  if (!GROUP_NAME.test(name)) throw new RolloutRefused('a group name is 1 to 64 letters, digits, - and _');
  if (!mayBeEmpty && boxIds.length === 0) throw new RolloutRefused('name at least one box');
  const bad = boxIds.find((id) => !isIdOf(id, 'BOX'));
  if (bad !== undefined) throw new RolloutRefused(`${bad} is not a box ID`);
}

function serialise(r: Rollout): Record<string, string> {
  return {
    ID: r.ID, VERSION: r.VERSION, STATE: r.STATE, PERCENT: r.PERCENT === undefined ? '' : String(r.PERCENT), GROUP: r.GROUP ?? '',
    STAGES: r.STAGES.join(','), STAGE: String(r.STAGE), STAGE_SINCE: String(r.STAGE_SINCE), STAGE_SECONDS: String(r.STAGE_SECONDS),
    HEARTBEAT_SECONDS: String(r.HEARTBEAT_SECONDS), STARTED: String(r.STARTED), REASON: r.REASON,
  };
}

/** The rollout in its hash; undefined when there is none or it is not one this code wrote. */
function parseRollout(h: Record<string, string> | undefined): Rollout | undefined {
  if (h === undefined || h.ID === undefined || h.VERSION === undefined || !isVersion(h.VERSION)) return undefined;
  const state = ROLLOUT_STATES.find((s) => s === h.STATE);
  const stages = (h.STAGES ?? '').split(',').map(Number);
  if (state === undefined || stages.some((s) => !Number.isInteger(s))) return undefined;
  return {
    ID: h.ID, VERSION: h.VERSION, STATE: state, PERCENT: h.PERCENT ? Number(h.PERCENT) : undefined, GROUP: h.GROUP ? h.GROUP : undefined,
    STAGES: stages, STAGE: Number(h.STAGE ?? 0), STAGE_SINCE: Number(h.STAGE_SINCE ?? 0), STAGE_SECONDS: Number(h.STAGE_SECONDS ?? 1800),
    HEARTBEAT_SECONDS: Number(h.HEARTBEAT_SECONDS ?? 5), STARTED: Number(h.STARTED ?? 0), REASON: h.REASON ?? '',
  };
}

function parseRecord(text: string): { VERSION: string; SEEN: number } | undefined {
  try {
    const rec = JSON.parse(text) as { VERSION?: unknown; SEEN?: unknown };
    return typeof rec.VERSION === 'string' && typeof rec.SEEN === 'number' ? { VERSION: rec.VERSION, SEEN: rec.SEEN } : undefined;
  } catch {
    return undefined;
  }
}

/** The error counters an EXCHANGE reports, or undefined when it reports them not all (an older agent). */
function countersOf(msg: BoxExchange): ErrorCounters | undefined {
  const serveErrors = readingOf(msg, 'SERVE-ERRORS');
  const agentErrors = readingOf(msg, 'AGENT-ERRORS');
  const uptimeSeconds = readingOf(msg, 'AGENT-UPTIME');
  return serveErrors === undefined || agentErrors === undefined || uptimeSeconds === undefined ? undefined : { serveErrors, agentErrors, uptimeSeconds };
}

/** The counters part of the BEFORE record (empty when the old agent reports none). */
function beforeOf(msg: BoxExchange): Record<string, number> {
  const c = countersOf(msg);
  return c === undefined ? {} : { SERVE_ERRORS: c.serveErrors, AGENT_ERRORS: c.agentErrors, AGENT_UPTIME: c.uptimeSeconds };
}

function parseBefore(text: string | null): BoxBefore | undefined {
  if (text === null) return undefined;
  try {
    const rec = JSON.parse(text) as Record<string, unknown>;
    const n = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);
    const [serveErrors, agentErrors, uptimeSeconds] = [n(rec.SERVE_ERRORS), n(rec.AGENT_ERRORS), n(rec.AGENT_UPTIME)];
    const counters = serveErrors === undefined || agentErrors === undefined || uptimeSeconds === undefined ? undefined : { serveErrors, agentErrors, uptimeSeconds };
    return { counters, serving: rec.SERVING === true };
  } catch {
    return undefined;
  }
}
