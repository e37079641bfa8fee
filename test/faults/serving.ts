/**
 * One box serving one publisher's file to viewers, for the fault tests that count traffic: Redis, an
 * entrance, a box (its ENTRANCE_URLS may lead elsewhere, e.g. through a proxy), a publisher with a
 * file confirmed on the box. The traffic a viewer makes is counted at the entrance under the publisher
 * (no audits: AUDIT_RATE 0, so the test's GETs are the only requests for its files). The file lives an
 * hour on the box.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { eventually, startAgent } from '../helpers/agent.js';
import type { RunningAgent } from '../helpers/agent.js';
import { REAL_BOXES, startEntrance } from '../helpers/entrance.js';
import type { RunningEntrance } from '../helpers/entrance.js';
import { startPublisher } from '../helpers/publisher.js';
import type { RunningPublisher } from '../helpers/publisher.js';
import { rememberEntrance } from '../helpers/publisher-account.js';
import { startRedis } from '../helpers/redis.js';
import { trafficKeys } from '../../shared/src/redis-keys.js';

/** Longer than any test here runs, so the box never deletes the file while viewers fetch it. */
const FILE_TTL_S = 3600;

export interface Serving {
  r: Redis;
  entrance: RunningEntrance;
  box: RunningAgent;
  pub: RunningPublisher;
  /** The file on the box's nginx, as a viewer fetches it. */
  fileUrl: string;
  /** Requests for the publisher's files the entrance has counted. */
  counted(): Promise<number>;
}

export async function servingBox(
  t: { teardown(fn: () => unknown): void },
  opts: { entranceEnv?: Record<string, string>; boxEntranceUrls?: string[]; publisherEntranceUrls?: string[] } = {},
): Promise<Serving> {
  const redis = await startRedis(t);
  const r = redis.client();
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: { ...REAL_BOXES, ...opts.entranceEnv } });
  const box = await startAgent(t, { redisUrl: redis.url, entranceUrls: opts.boxEntranceUrls ?? [entrance.url], boxId: 'box-serving' });
  // So startPublisher finds where to make the publisher's account (the entrance's URL may be a proxy's).
  for (const url of opts.publisherEntranceUrls ?? []) rememberEntrance(url, redis.url);
  const pub = await startPublisher(t, {
    redisUrl: redis.url, entranceUrls: opts.publisherEntranceUrls ?? [entrance.url], env: { DANDELION_REPLICAS: '1', DANDELION_AUDIT_RATE: '0', DANDELION_FILE_TTL: String(FILE_TTL_S) },
  });
  if (!(await eventually(() => pub.publisher.pool.ready().length === 1, 30_000))) throw new Error('the publisher never reached the box');
  mkdirSync(path.join(pub.watchDirectory, 'live'), { recursive: true });
  writeFileSync(path.join(pub.watchDirectory, 'live', 'seg.ts'), randomBytes(20_000));
  const held = await eventually(async () => (await r.hlen(`${pub.id}:FILE:PROCESSED_FILES:live/seg.ts`)) === 1, 30_000);
  if (!held) throw new Error('the file never reached the box');
  const total = trafficKeys().publisherTotal(pub.id);
  return {
    r, entrance, box, pub,
    fileUrl: `${box.httpBase}/${pub.id}/live/seg.ts`,
    counted: async () => Number((await r.hget(total, 'requests')) ?? 0),
  };
}

/** `n` viewer GETs of `url`; resolves with how many were answered 200. */
export async function view(url: string, n: number): Promise<number> {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const res = await fetch(url);
    await res.arrayBuffer();
    if (res.status === 200) ok += 1;
  }
  return ok;
}

/** Waits until the entrance has counted `expected` requests, then a little longer: none counted twice. */
export async function settledCount(s: Serving, expected: number, timeoutMs = 90_000): Promise<number> {
  await eventually(async () => (await s.counted()) >= expected, timeoutMs, 250);
  // A few more heartbeats: an aggregate counted twice would show up here.
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  return s.counted();
}
