/**
 * viewer start-up: from opening the publisher's viewer page to the first video frame shown, in headless
 * Chromium (Debian's, through playwright-core as the browser tests drive it). Project: a publisher whose
 * live stream is on two boxes (agents in their own processes, each with its nginx; the rewritten playlist
 * points at them). Reference: a publisher with no boxes (its own entrance and Redis, where no box is
 * registered) serving the same stream from its origin. Both watch the one folder a single ffmpeg writes,
 * with the same settings, so the boxes are the only difference.
 *
 * Each page load is a fresh browser context (empty cache, no viewer cookie); loads alternate between the
 * two, in the order A B B A …, so a drift of the machine's load falls on both. The time is the page's own
 * clock (performance.now(), zero when navigation started) at the first requestVideoFrameCallback: the
 * moment the compositor presented a frame. Where that callback does not exist, the `playing` event.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { testStreamArgs } from '../../shared/src/test-stream.js';
import { launchBrowser } from '../../test/helpers/browser.js';
import { track } from '../../test/helpers/children.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { startPublisher } from '../../test/helpers/publisher.js';
import type { RunningPublisher } from '../../test/helpers/publisher.js';
import { startRedis } from '../../test/helpers/redis.js';
import { NODE_AGENT, startAgentProcess } from './agent-process.js';
import type { Benchmark, Cleanup, Row } from './common.js';

const BOXES = 2;
const RATIO_GOAL = 1.1;
const READY_TIMEOUT_MS = 40_000;
const FIRST_FRAME_TIMEOUT_MS = 30_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** In the page before its scripts: note when the first frame is presented (and how that was seen). */
const FIRST_FRAME_PROBE = `
document.addEventListener('DOMContentLoaded', () => {
  const video = document.querySelector('video');
  if (!video) return;
  if (typeof video.requestVideoFrameCallback === 'function') {
    video.requestVideoFrameCallback((now) => { window.__firstFrame = { at: now, how: 'requestVideoFrameCallback' }; });
  } else {
    video.addEventListener('playing', () => { window.__firstFrame ??= { at: performance.now(), how: 'playing' }; }, { once: true });
  }
});`;

interface FirstFrame { at: number; how: string }

function isFirstFrame(v: unknown): v is FirstFrame {
  return typeof v === 'object' && v !== null && 'at' in v && typeof v.at === 'number' && 'how' in v && typeof v.how === 'string';
}

async function firstFrameMs(browser: Browser, url: string): Promise<FirstFrame> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.addInitScript(FIRST_FRAME_PROBE);
    await page.goto(url);
    const handle = await page.waitForFunction(() => (window as unknown as { __firstFrame?: unknown }).__firstFrame, undefined, { timeout: FIRST_FRAME_TIMEOUT_MS, polling: 50 });
    const seen: unknown = await handle.jsonValue();
    if (!isFirstFrame(seen)) throw new Error(`the page reported no first frame (${JSON.stringify(seen)})`);
    return seen;
  } finally {
    await context.close();
  }
}

/** Polls the publisher's rewritten playlist until it lists `segments` entries, on boxes when `onBoxes`. */
async function playlistReady(pub: RunningPublisher, segments: number, onBoxes: boolean): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const res = await fetch(`${pub.base}/hls/index.m3u8`).catch(() => undefined);
    const text = res?.status === 200 ? await res.text() : '';
    const uris = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    const wanted = onBoxes ? uris.filter((u) => !u.includes('/origin/')) : uris;
    if (wanted.length >= segments) return;
    if (Date.now() > deadline) throw new Error(`${pub.id}'s playlist listed ${wanted.length} of ${segments} segments${onBoxes ? ' on boxes' : ''} in ${READY_TIMEOUT_MS / 1000} s`);
    await sleep(250);
  }
}

/** A publisher of `folder` whose stream goes to BOXES boxes, once it is connected to all of them. */
async function startWithBoxes(cleanup: Cleanup, folder: string): Promise<RunningPublisher> {
  const redis = await startRedis(cleanup);
  const entrance = await startEntrance(cleanup, { redisUrl: redis.url });
  cleanup.teardown(() => rmSync(entrance.runDirectory, { recursive: true, force: true }));
  await Promise.all(Array.from({ length: BOXES }, (_, i) => startAgentProcess(cleanup, { command: NODE_AGENT, redisUrl: redis.url, entranceUrl: entrance.url, boxId: `box-benchview${i + 1}`, pingSeconds: 0.5 })));
  const pub = await startOwnPublisher(cleanup, redis.url, entrance.url, folder);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (pub.publisher.pool.ready().length < BOXES) {
    if (Date.now() > deadline) throw new Error(`the publisher connected to ${pub.publisher.pool.ready().length} of ${BOXES} boxes in ${READY_TIMEOUT_MS / 1000} s`);
    await sleep(50);
  }
  return pub;
}

/** A publisher of `folder` with its own Redis and entrance, where no box is registered: origin only. */
async function startOriginOnly(cleanup: Cleanup, folder: string): Promise<RunningPublisher> {
  const redis = await startRedis(cleanup);
  const entrance = await startEntrance(cleanup, { redisUrl: redis.url });
  cleanup.teardown(() => rmSync(entrance.runDirectory, { recursive: true, force: true }));
  return startOwnPublisher(cleanup, redis.url, entrance.url, folder);
}

/** Both publishers get the same settings, so the boxes are the only difference between them. */
async function startOwnPublisher(cleanup: Cleanup, redisUrl: string, entranceUrl: string, folder: string): Promise<RunningPublisher> {
  const pub = await startPublisher(cleanup, {
    redisUrl, entranceUrls: [entranceUrl], id: 'publisher-benchview',
    env: { DANDELION_REPLICAS: String(BOXES), DANDELION_MIN_HTTP_PEERS: String(BOXES), DANDELION_FILE_TTL: '120', DANDELION_PUBLISHER_WATCH_DIRECTORY: folder },
  });
  const run = pub.configEnv.DANDELION_RUN_DIRECTORY;
  if (run !== undefined) cleanup.teardown(() => rmSync(path.dirname(run), { recursive: true, force: true }));
  return pub;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export const viewerStartup: Benchmark = {
  name: 'viewer-startup',
  noisy: true,
  async run({ smoke }, cleanup): Promise<Row[]> {
    const loads = smoke ? 1 : 7;
    const folder = mkdtempSync(path.join(os.tmpdir(), 'dandelion-bench-view-'));
    cleanup.teardown(() => rmSync(folder, { recursive: true, force: true }));
    // The stream starts first: its first segments take seconds to encode, while the servers start.
    const ffmpeg = spawn('ffmpeg', testStreamArgs({ directory: folder }), { stdio: 'ignore' });
    track(ffmpeg);
    cleanup.teardown(() => void ffmpeg.kill('SIGKILL'));
    const [withBoxes, originOnly, browser] = await Promise.all([startWithBoxes(cleanup, folder), startOriginOnly(cleanup, folder), launchBrowser(cleanup)]);
    // hls.js starts three segments behind the live edge: both playlists hold that many before a page opens
    // (two at smoke size, enough for it to start, as in the end-to-end test).
    const listed = smoke ? 2 : 3;
    await Promise.all([playlistReady(withBoxes, listed, true), playlistReady(originOnly, listed, false)]);

    const boxes: number[] = [];
    const origin: number[] = [];
    const how = new Set<string>();
    for (let i = 0; i < loads; i++) {
      const order = i % 2 === 0 ? [withBoxes, originOnly] : [originOnly, withBoxes];
      for (const pub of order) {
        const frame = await firstFrameMs(browser, `${pub.base}/?src=index.m3u8`);
        how.add(frame.how);
        (pub === withBoxes ? boxes : origin).push(frame.at);
      }
    }
    const project = median(boxes);
    const reference = median(origin);
    const ratio = project / reference;
    const list = (v: number[]): string => v.map((x) => Math.round(x)).join(', ');
    const note = `median of ${loads} page load${loads > 1 ? 's' : ''} each, alternated, each in a fresh browser context; first frame by ${[...how].join(' / ')}; ${BOXES} boxes (agents in their own processes): ${list(boxes)} ms; origin only: ${list(origin)} ms`;
    return [{ bench: 'viewer-startup', metric: 'viewer page → first frame', unit: 'ms', project, reference, ratio, goal: `ratio ≤ ${RATIO_GOAL}`, pass: ratio <= RATIO_GOAL, note }];
  },
};
