/**
 * How SEARCH orders boxes (documented in shared/src/protocol/README.md, "Ranking (SEARCH)"):
 *   1. distance band: boxes in 500 km rings around the publisher, nearest ring first, when both the
 *      publisher and the box have GEOIP LOC; boxes without a place come after every placed box;
 *   2. capacity: spare upload (BANDWIDTH-IDLE-UP, Mbit/s) highest first, then free disk (DISK-AVAIL, GB);
 *   3. distance: within one band and at equal capacity, the nearer box first;
 *   4. box ID, so equal boxes keep a stable order.
 * Capacity is one number so that Redis can keep the fleet sorted by it (a sorted set).
 */
import { readingOf } from '../../../shared/src/protocol/index.js';
import type { BoxExchange } from '../../../shared/src/protocol/index.js';

export const DISTANCE_BAND_KM = 500;
const MAX_IDLE_MBIT = 1_000_000;
const DISK_STEPS = 1_000_000; // free disk counted in 0.1 GB steps up to 100 TB

/** Spare upload in 0.01 Mbit/s steps, then free disk in 0.1 GB steps: lexicographic in one double. */
export function capacityScore(msg: BoxExchange): number {
  const idle = Math.min(Math.max(readingOf(msg, 'BANDWIDTH-IDLE-UP') ?? 0, 0), MAX_IDLE_MBIT);
  const disk = Math.min(Math.max(readingOf(msg, 'DISK-AVAIL') ?? 0, 0) * 10, DISK_STEPS - 1);
  return Math.floor(idle * 100) * DISK_STEPS + Math.floor(disk);
}

export interface Candidate {
  id: string;
  distanceKm: number | undefined;
  capacity: number;
}

export function distanceBand(distanceKm: number | undefined): number {
  return distanceKm === undefined ? Number.POSITIVE_INFINITY : Math.floor(distanceKm / DISTANCE_BAND_KM);
}

export function compareCandidates(a: Candidate, b: Candidate): number {
  const band = distanceBand(a.distanceKm) - distanceBand(b.distanceKm);
  if (band !== 0 && !Number.isNaN(band)) return band;
  if (a.capacity !== b.capacity) return b.capacity - a.capacity;
  // Both placed or both not, since they share a band.
  if (a.distanceKm !== undefined && b.distanceKm !== undefined && a.distanceKm !== b.distanceKm) return a.distanceKm - b.distanceKm;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
