/**
 * TCP probes for the lab's tests: a tiny server in one namespace that answers each connection with the
 * address it came from, and a client in another that reports what it got (or the error code). Both are
 * `node -e` one-liners run through `ip netns exec`, since a process cannot switch its own namespace.
 */
import type { ChildProcess } from 'node:child_process';
import type { Lab, Ns } from './lab.js';

const SERVER = `
const net = require('node:net');
const [host, port] = process.argv.slice(1);
net.createServer((s) => s.end('from ' + s.remoteAddress.replace(/^::ffff:/, '') + '\\n'))
  .listen(Number(port), host, () => console.log('listening'));
`;

const CLIENT = `
const net = require('node:net');
const [host, port, timeoutMs] = process.argv.slice(1);
const s = net.connect({ host, port: Number(port), timeout: Number(timeoutMs) });
let reply = '';
s.on('data', (d) => (reply += d));
s.on('end', () => { console.log(JSON.stringify({ reply: reply.trim() })); process.exit(0); });
s.on('timeout', () => { console.log(JSON.stringify({ error: 'ETIMEDOUT' })); process.exit(0); });
s.on('error', (e) => { console.log(JSON.stringify({ error: e.code })); process.exit(0); });
`;

export interface ProbeServer {
  child: ChildProcess;
  stop(): void;
}

/** Listen on host:port in `ns` (host '::' takes IPv4 and IPv6); resolves once it listens. */
export async function probeServer(lab: Lab, ns: Ns, port: number, host = '::'): Promise<ProbeServer> {
  const child = lab.spawn(ns, [process.execPath, '-e', SERVER, host, String(port)]);
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('listening')) resolve();
    });
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', () => reject(new Error(`probe server in ${ns.name} exited: ${out}`)));
  });
  return { child, stop: () => child.kill('SIGKILL') };
}

export type ProbeResult = { reply: string; error?: undefined } | { error: string; reply?: undefined };

/** Connect from `ns` to host:port; { reply } is what the server said (its view of our address), else { error }. */
export async function probeConnect(lab: Lab, ns: Ns, host: string, port: number, timeoutMs = 3_000): Promise<ProbeResult> {
  const result = await lab.exec(ns, [process.execPath, '-e', CLIENT, host, String(port), String(timeoutMs)], { timeoutMs: timeoutMs + 10_000 });
  const line = result.stdout.trim().split('\n').pop() ?? '';
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed === 'object' && parsed !== null) {
      if ('reply' in parsed && typeof parsed.reply === 'string') return { reply: parsed.reply };
      if ('error' in parsed && typeof parsed.error === 'string') return { error: parsed.error };
    }
  } catch {
    /* intentional: reported below with the output */
  }
  return { error: `probe client failed (exit ${result.code}): ${result.stderr.trim() || line}` };
}
