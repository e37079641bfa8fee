/**
 * The load generator of the heartbeat benchmark, run in a worker thread so the server under test keeps
 * the main thread: N persistent sockets, each sending its message and waiting for the reply in a loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { WebSocket } from 'ws';
import { encodeHistogram, latencyHistogram, micros } from './common.js';

export interface LoadRequest {
  url: string;
  /** One message per socket, sent again and again. */
  messages: string[];
  durationMs: number;
  /** A good reply: the entrance's ACCEPTED, or the message itself from the echo server. */
  expect: 'accepted' | 'echo';
}
export interface LoadResult {
  replies: number;
  elapsedMs: number;
  histogram: string;
  errors: number;
  /** Replies that were not the expected answer. */
  wrong: number;
}

async function run(req: LoadRequest): Promise<LoadResult> {
  const sockets = await Promise.all(req.messages.map(() => new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(req.url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  })));
  const histogram = latencyHistogram();
  let replies = 0;
  let errors = 0;
  let wrong = 0;
  let stopAt = 0;
  const start = process.hrtime.bigint();
  stopAt = Date.now() + req.durationMs;
  await Promise.all(sockets.map((ws, i) => new Promise<void>((resolve) => {
    const message = req.messages[i] as string;
    let sentAt = 0n;
    const send = (): void => {
      if (Date.now() >= stopAt) return resolve();
      sentAt = process.hrtime.bigint();
      ws.send(message);
    };
    ws.on('message', (data) => {
      histogram.recordValue(micros(sentAt));
      const text = data.toString();
      if (req.expect === 'echo' ? text === message : text.includes('"MESSAGE":"ACCEPTED"')) replies++;
      else wrong++;
      send();
    });
    ws.on('close', () => {
      errors++;
      resolve();
    });
    send();
  })));
  const elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
  for (const ws of sockets) {
    ws.removeAllListeners('close');
    ws.terminate();
  }
  return { replies, elapsedMs, histogram: encodeHistogram(histogram), errors, wrong };
}

if (parentPort) {
  const port = parentPort;
  run(workerData as LoadRequest).then((r) => port.postMessage(r), (e: unknown) => port.postMessage({ error: String(e) }));
}
