/**
 * Viewers pulling from a box as hard as they can: `node viewer-load.js <base URL> <file count> <connections>`
 * runs <connections> loops, each on its own keep-alive connection, GETting <base URL><i>.ts for i in
 * 0…count−1 round and round. Prints, every 250 ms, one JSON line per finished 100 ms bin of bytes
 * received, {"bin": bin start (ms since the epoch), "bytes"}, and {"error"} for a failed request (the
 * loop goes on after a short pause). Runs until killed.
 */
import http from 'node:http';
import { messageOf } from '../../shared/src/protocol/errors.js';

const BIN_MS = 100;
const REPORT_MS = 250;

const [base, countText, connectionsText] = process.argv.slice(2);
if (base === undefined || countText === undefined || connectionsText === undefined) throw new Error('usage: viewer-load <base URL> <file count> <connections>');
const count = Number(countText);
const connections = Number(connectionsText);
const bins = new Map<number, number>();
const binOf = (ms: number): number => Math.floor(ms / BIN_MS) * BIN_MS;

function get(url: string, agent: http.Agent): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, timeout: 10_000 }, (res) => {
      res.on('data', (chunk: Buffer) => {
        const bin = binOf(Date.now());
        bins.set(bin, (bins.get(bin) ?? 0) + chunk.length);
      });
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`${url}: HTTP ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: timed out`)));
    req.on('error', reject);
  });
}

async function loop(first: number): Promise<never> {
  // One connection per loop, kept alive, as a player keeps one to its box.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  for (let i = first; ; i = (i + 1) % count) {
    try {
      await get(`${base}${i}.ts`, agent);
    } catch (err) {
      process.stdout.write(`${JSON.stringify({ error: messageOf(err) })}\n`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

setInterval(() => {
  const current = binOf(Date.now());
  for (const [bin, bytes] of bins) {
    if (bin >= current) continue;
    process.stdout.write(`${JSON.stringify({ bin, bytes })}\n`);
    bins.delete(bin);
  }
}, REPORT_MS);
for (let c = 0; c < connections; c++) void loop((c * Math.ceil(count / connections)) % count);
