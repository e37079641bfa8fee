/**
 * What a rollout decides, without Redis: which boxes a stage selects, the stages a start asks for, and when
 * its health fails (docs/updates.md, "Rollouts at the entrance").
 */
import { registryShardIndex } from '../../../shared/src/redis-keys.js';

export const DEFAULT_STAGES: readonly number[] = [1, 10, 50, 100];
/** A rollout halts once more than this many boxes failed, or went silent among its first offered ones. */
export const MAX_UNHEALTHY = 2;
/** How many of the first boxes offered the update are watched for silence. */
export const WATCHED_FIRST = 20;
/** Silent: no EXCHANGE for this many heartbeat periods. */
export const SILENT_PERIODS = 3;

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

export interface HealthInput {
  /** The first WATCHED_FIRST boxes offered the update, with when each was last heard from (ms; undefined: never since). */
  firstOffered: Array<{ boxId: string; seen: number | undefined }>;
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
  if (silent.length > MAX_UNHEALTHY) {
    return `${silent.length} of the first ${h.firstOffered.length} boxes offered the update have been silent for ${SILENT_PERIODS} heartbeats (${silent.slice(0, 5).join(', ')}${silent.length > 5 ? ', …' : ''})`;
  }
  return undefined;
}
