/**
 * What a rollout decides, without Redis: which boxes a stage selects, the stages a start asks for, and when
 * its health fails (docs/updates.md, "Rollouts at the entrance").
 */
import { registryShardIndex } from '../../../shared/src/redis-keys.js';

export const DEFAULT_STAGES: readonly number[] = [1, 10, 50, 100];
/** A rollout halts once more than this many boxes failed, or are unhealthy among its first offered and updated ones. */
export const MAX_UNHEALTHY = 2;
/** How many of the first boxes offered the update are watched for silence, and of the first updated for the rest of health. */
export const WATCHED_FIRST = 20;
/** Silent: no EXCHANGE for this many heartbeat periods. */
export const SILENT_PERIODS = 3;
/**
 * An error counter rose when the updated agent counted at least ERROR_RISE_FLOOR errors more than
 * ERROR_RISE_FACTOR times what its rate before the update predicts for the time it has run: one stray error
 * (or nine) is never a rise, and a box that always had some errors must have clearly more.
 */
export const ERROR_RISE_FLOOR = 10;
export const ERROR_RISE_FACTOR = 2;

/**
 * A box's place in 0…99, the same at every entrance and in every rollout (FNV-1a, as registry shards), so a
 * stage of 10 % selects the boxes of 1 % and more: a box once offered stays offered as stages grow.
 */
export function bucketOf(boxId: string): number {
  return registryShardIndex(boxId, 100);
}

export function selectedAt(boxId: string, stagePercent: number): boolean {
  return bucketOf(boxId) < stagePercent;
}

/**
 * The stages of a rollout to `percent` of the boxes (or of a group: 100): those of `stages` below it, then
 * the percent itself. Refuses what is not a rising list of percentages.
 */
export function stagesFor(percent: number, stages: readonly number[] = DEFAULT_STAGES): number[] {
  if (!Number.isInteger(percent) || percent < 1 || percent > 100) throw new RangeError('the percentage is a whole number from 1 to 100');
  for (let i = 0; i < stages.length; i++) {
    const s = stages[i] as number;
    if (!Number.isInteger(s) || s < 1 || s > 100) throw new RangeError(`stage ${s} is not a whole percentage from 1 to 100`);
    if (i > 0 && s <= (stages[i - 1] as number)) throw new RangeError('stages must rise: e.g. 1,10,50,100');
  }
  return [...stages.filter((s) => s < percent), percent];
}

/** A box's error counters as its EXCHANGE reports them: since its agent started, AGENT-UPTIME seconds ago. */
export interface ErrorCounters {
  serveErrors: number;
  agentErrors: number;
  uptimeSeconds: number;
}

/** A box as it was on the old version, the last time the rollout offered it the update. */
export interface BoxBefore {
  /** Undefined: its old agent did not report them (then any rise past the floor counts). */
  counters: ErrorCounters | undefined;
  /** It served: reachable from outside, and its household did not pause it. */
  serving: boolean;
}

/** An updated box as it is now. */
export interface BoxAfter {
  /** Undefined: it reports no counters, or runs another version now (reverted by itself: a failure counted elsewhere). */
  counters: ErrorCounters | undefined;
  /** The entrance's reachability verdict now (undefined: none stored, the box went silent). */
  reachability: string | undefined;
  /** Its household paused it: not serving by choice, not a failure. */
  paused: boolean;
}

export interface HealthInput {
  /** The first WATCHED_FIRST boxes offered the update, with when each was last heard from (ms; undefined: never since). */
  firstOffered: Array<{ boxId: string; seen: number | undefined }>;
  /** The first WATCHED_FIRST boxes updated, as they were before (undefined: not recorded) and are now. */
  firstUpdated?: Array<{ boxId: string; before: BoxBefore | undefined; after: BoxAfter | undefined }>;
  /** How many boxes reported UPDATE_FAILED for the rollout's version. */
  failed: number;
  now: number;
  heartbeatSeconds: number;
}

/** Why the rollout must halt, or undefined while its health holds. */
export function haltReason(h: HealthInput): string | undefined {
  if (h.failed > MAX_UNHEALTHY) return `${h.failed} boxes reported that the update failed`;
  const silentSince = h.now - SILENT_PERIODS * h.heartbeatSeconds * 1000;
  const silent = h.firstOffered.filter((b) => b.seen === undefined || b.seen < silentSince).map((b) => b.boxId);
  const why = new Map<string, string>(silent.map((id) => [id, `silent for ${SILENT_PERIODS} heartbeats`]));
  for (const b of h.firstUpdated ?? []) {
    const reason = why.has(b.boxId) || b.after === undefined ? undefined : unhealthyReason(b.before, b.after);
    if (reason !== undefined) why.set(b.boxId, reason);
  }
  if (why.size <= MAX_UNHEALTHY) return undefined;
  if (silent.length === why.size) {
    return `${silent.length} of the first ${h.firstOffered.length} boxes offered the update have been silent for ${SILENT_PERIODS} heartbeats (${listed(silent)})`;
  }
  const named = [...why].map(([id, reason]) => `${id}: ${reason}`);
  return `${why.size} of the first boxes offered or updated are unhealthy (${listed(named, '; ')})`;
}

function listed(items: string[], separator = ', '): string {
  return `${items.slice(0, 5).join(separator)}${items.length > 5 ? `${separator}…` : ''}`;
}

/**
 * Why an updated box counts as unhealthy, or undefined: its serve or agent errors rose (ERROR_RISE_FLOOR,
 * ERROR_RISE_FACTOR), or it served before the update and does not now (a verdict other than `reachable`
 * once the entrance's probes finished; a box its household paused is not counted).
 */
export function unhealthyReason(before: BoxBefore | undefined, after: BoxAfter): string | undefined {
  if (after.counters !== undefined) {
    for (const [name, key] of [['serve errors', 'serveErrors'], ['agent errors', 'agentErrors']] as const) {
      const expected = expectedErrors(before?.counters, key, after.counters.uptimeSeconds);
      const count = after.counters[key];
      if (count >= ERROR_RISE_FLOOR + ERROR_RISE_FACTOR * expected) {
        return `${name} rose: ${count} in ${after.counters.uptimeSeconds} s since the update, ${Math.round(expected * 10) / 10} expected from its rate before`;
      }
    }
  }
  if (before?.serving === true && !after.paused && after.reachability !== undefined && after.reachability !== 'checking' && after.reachability !== 'reachable') {
    return `no longer serves (reachable before the update, ${after.reachability} now)`;
  }
  return undefined;
}

/** The errors a box's rate before the update predicts over `seconds`; 0 when it had no rate (none reported, or no time run). */
function expectedErrors(before: ErrorCounters | undefined, key: 'serveErrors' | 'agentErrors', seconds: number): number {
  if (before === undefined || before.uptimeSeconds <= 0) return 0;
  return (before[key] / before.uptimeSeconds) * seconds;
}
