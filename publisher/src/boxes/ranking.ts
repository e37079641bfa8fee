/**
 * How the publisher ranks boxes (documented in docs/publisher.md, "Ranking"): what the box reports
 * (spare upload for viewers, free disk) and what the publisher measures itself (upload speed to the
 * box, round trip, recent failures). Logarithms, because doubling a fast box's bandwidth matters less
 * than doubling a slow one's. Higher is better.
 */
import { readingOf } from '../../../shared/src/protocol/index.js';
import type { BoxExchange } from '../../../shared/src/protocol/index.js';
import type { BoxStats } from './box-connection.js';

export const UNKNOWN_RTT_MS = 200;
const LOW_DISK_GB = 1;

export function boxScore(exchange: BoxExchange, stats: BoxStats | undefined): number {
  const idleMbit = readingOf(exchange, 'BANDWIDTH-IDLE-UP') ?? 0;
  const diskGb = readingOf(exchange, 'DISK-AVAIL');
  const uploadMbit = stats?.bytesPerSecond !== undefined ? (stats.bytesPerSecond * 8) / 1e6 : idleMbit;
  const rttMs = stats?.rttMs ?? UNKNOWN_RTT_MS;
  let score = 10 * Math.log2(1 + idleMbit) + 5 * Math.log2(1 + uploadMbit) - rttMs / 20 - 20 * (stats?.failures ?? 0);
  if (diskGb !== undefined && diskGb < LOW_DISK_GB) score -= 50;
  return Math.round(score * 1000) / 1000;
}
