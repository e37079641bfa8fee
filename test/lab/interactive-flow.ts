/**
 * The household's interactive flow, like a video call's control traffic: `node interactive-flow.js <ip> <port>`
 * sends a small UDP request to the echo server (udp-echo.ts) every 100 ms and prints one JSON line per
 * request sent, {"seq","at"} (ms since the epoch), and one per reply, {"seq","rttMs"}. A request without
 * a reply was lost (the router's queue dropped it, or the reply). Runs until killed.
 */
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';

const INTERVAL_MS = 100;
/** A call's control message is small; padded so it is not a bare header. */
const REQUEST_BYTES = 120;

const [ip, port] = process.argv.slice(2);
if (ip === undefined || port === undefined) throw new Error('usage: interactive-flow <ip> <port>');
const socket = dgram.createSocket(ip.includes(':') ? 'udp6' : 'udp4');
const sentAt = new Map<number, number>();
let seq = 0;
socket.on('message', (msg) => {
  const n = msg.readUInt32BE(0);
  const at = sentAt.get(n);
  if (at === undefined) return;
  sentAt.delete(n);
  process.stdout.write(`${JSON.stringify({ seq: n, rttMs: Math.round((performance.now() - at) * 100) / 100 })}\n`);
});
setInterval(() => {
  const msg = Buffer.alloc(REQUEST_BYTES);
  msg.writeUInt32BE(seq, 0);
  sentAt.set(seq, performance.now());
  process.stdout.write(`${JSON.stringify({ seq, at: Date.now() })}\n`);
  socket.send(msg, Number(port), ip);
  seq += 1;
}, INTERVAL_MS);
