/**
 * The load generator of the heartbeat benchmark, run in a worker thread so the server under test keeps
 * the main thread. N persistent sockets; at an offered rate R each socket sends its message every N/R
 * seconds (phases spread evenly), at most one in flight. Latency runs from when a message was *due*, not
 * from when it went out, so a server that falls behind is charged for the queue it builds (no
 * coordinated omission). The worker searches for the highest offered rate whose p99 stays under the
 * goal while the server keeps up (replies ≥ 95 % of the offered rate): doubling, then bisecting; a
 * failing step is tried twice.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { WebSocket } from 'ws';
import type { Histogram } from 'hdr-histogram-js';
import { latencyHistogram } from './common.js';

export interface LoadRequest {
  url: string;
  /** One message per socket, sent again and again. */
  messages: string[];
  /** A good reply: the entrance's ACCEPTED, or the message itself from the echo server. */
  expect: 'accepted' | 'echo';
  /** Length of each step of the search. */
  stepMs: number;
  /** The first offered rate (messages/s); doubled until a step fails. */
  startRate: number;
  /** Bisection steps after the first failure. */
  bisections: number;
  /** Stop doubling after this many doublings even if every step passed (the smoke run: it only checks the load runs). */
  maxDoublings?: number;
  p99GoalMs: number;
}
export interface Step {
  offered: number;
  achieved: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  wrong: number;
  ok: boolean;
}
export interface LoadResult {
  steps: Step[];
  /** The best passing step, or undefined when even the first failed. */
  best?: Step;
}

const KEEP_UP = 0.95;
const DRAIN_MS = 3000;

interface Socket {
  ws: WebSocket;
  message: string;
  /** When the message in flight was due (ms, performance.now()), or undefined when idle. */
  inFlightDue?: number;
  nextDue: number;
  timer?: NodeJS.Timeout;
}

async function run(req: LoadRequest): Promise<LoadResult> {
  const sockets: Socket[] = await Promise.all(req.messages.map((message) => new Promise<Socket>((resolve, reject) => {
    const ws = new WebSocket(req.url);
    ws.once('open', () => resolve({ ws, message, nextDue: 0 }));
    ws.once('error', reject);
  })));
  let histogram: Histogram = latencyHistogram();
  let replies = 0;
  let errors = 0;
  let wrong = 0;
  let intervalMs = 0;
  let stopAt = 0;
  let running = false;

  const send = (s: Socket): void => {
    s.timer = undefined;
    if (!running || s.nextDue >= stopAt) return;
    s.inFlightDue = s.nextDue;
    s.nextDue += intervalMs;
    s.ws.send(s.message);
  };
  const scheduleNext = (s: Socket): void => {
    if (!running || s.nextDue >= stopAt) return;
    const wait = s.nextDue - performance.now();
    if (wait <= 0) send(s);
    else s.timer = setTimeout(() => send(s), wait);
  };
  for (const s of sockets) {
    s.ws.on('message', (data) => {
      if (!running && s.inFlightDue === undefined) return; // the warm-up's
      const due = s.inFlightDue;
      s.inFlightDue = undefined;
      if (due === undefined) return; // a late reply from a previous step
      histogram.recordValue(Math.max(1, Math.round((performance.now() - due) * 1000)));
      const text = data.toString();
      if (req.expect === 'echo' ? text === s.message : text.includes('"MESSAGE":"ACCEPTED"')) replies++;
      else wrong++;
      scheduleNext(s);
    });
    s.ws.on('close', () => errors++);
  }

  /** A step that fails is run once more: on a shared machine one stall of another tenant's can sink a p99. */
  async function step(rate: number): Promise<Step> {
    const first = await once(rate);
    if (first.ok) return first;
    const second = await once(rate);
    return second.ok || second.p99Ms < first.p99Ms ? second : first;
  }

  async function once(rate: number): Promise<Step> {
    histogram = latencyHistogram();
    replies = 0;
    errors = 0;
    wrong = 0;
    intervalMs = (1000 * sockets.length) / rate;
    const start = performance.now() + 20;
    stopAt = start + req.stepMs;
    running = true;
    sockets.forEach((s, i) => {
      s.nextDue = start + (intervalMs * i) / sockets.length;
      s.inFlightDue = undefined;
      scheduleNext(s);
    });
    await new Promise((r) => setTimeout(r, req.stepMs + 20));
    // Replies still owed count, as they arrive, towards this step's latency (not its throughput).
    const counted = replies;
    const drainUntil = performance.now() + DRAIN_MS;
    while (sockets.some((s) => s.inFlightDue !== undefined) && performance.now() < drainUntil) await new Promise((r) => setTimeout(r, 10));
    running = false;
    for (const s of sockets) {
      clearTimeout(s.timer);
      if (s.inFlightDue !== undefined) {
        histogram.recordValue(Math.round((performance.now() - s.inFlightDue) * 1000)); // never answered in time
        s.inFlightDue = undefined;
      }
    }
    const achieved = counted / (req.stepMs / 1000);
    const p99Ms = histogram.getValueAtPercentile(99) / 1000;
    const ok = p99Ms < req.p99GoalMs && achieved >= KEEP_UP * rate && errors === 0 && wrong === 0;
    return { offered: rate, achieved, p50Ms: histogram.getValueAtPercentile(50) / 1000, p99Ms, errors, wrong, ok };
  }

  // Warm-up, not measured: every box's first EXCHANGE registers it (a new box costs the entrance more
  // than a refresh), and the JIT warms up on both sides.
  await Promise.all(sockets.map((s) => new Promise<void>((resolve) => {
    s.ws.once('message', () => resolve());
    s.ws.send(s.message);
  })));
  await once(req.startRate);

  const steps: Step[] = [];
  let best: Step | undefined;
  let lo = 0;
  let hi = 0;
  for (let rate = req.startRate, doublings = 0; ; rate *= 2, doublings++) {
    const s = await step(rate);
    steps.push(s);
    if (!s.ok) {
      hi = rate;
      break;
    }
    best = s;
    lo = rate;
    if (doublings >= (req.maxDoublings ?? Number.POSITIVE_INFINITY)) break; // no failure found: no bisection
  }
  if (lo === 0) lo = hi / 2 ** req.bisections; // even the start rate failed: look below it
  for (let i = 0; i < req.bisections && hi > 0; i++) {
    const mid = Math.round((lo + hi) / 2);
    const s = await step(mid);
    steps.push(s);
    if (s.ok) {
      if (!best || s.offered > best.offered) best = s;
      lo = mid;
    } else hi = mid;
  }
  for (const s of sockets) {
    s.ws.removeAllListeners('close');
    s.ws.terminate();
  }
  return best ? { steps, best } : { steps };
}

if (parentPort) {
  const port = parentPort;
  run(workerData as LoadRequest).then((r) => port.postMessage(r), (e: unknown) => port.postMessage({ error: String(e) }));
}
