// Signals and ordered shutdown, in a real child process: SIGTERM or SIGINT runs stop() once, its steps
// in order, then exit 0; a stop that fails exits 1; a stop that hangs is cut by the force-exit timer
// (exit 1); a second signal while stopping exits 1 at once.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { track } from '../../test/helpers/children.js';

const LIFECYCLE = new URL('../src/lifecycle.js', import.meta.url).href;
const LOG = new URL('../src/log.js', import.meta.url).href;

// The child: trapSignals with a stop() of three steps; argv[2] picks how stop behaves. Lines starting
// with "step" are the script's own; the rest are the lifecycle's pino lines (JSON, same stdout).
const SCRIPT = `
import { trapSignals } from ${JSON.stringify(LIFECYCLE)};
import { createLogger } from ${JSON.stringify(LOG)};
const mode = process.argv[2];
const log = createLogger({ level: 'info', role: 'lifecycle-test' });
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
let stops = 0;
async function stop() {
  stops += 1;
  console.log('step stop-called ' + stops);
  for (const part of ['sockets', 'timers', 'redis']) {
    await pause(mode === 'slow' ? 5000 : 30);
    console.log('step stopped ' + part);
    if (mode === 'fail' && part === 'timers') throw new Error('redis quit failed');
    if (mode === 'hang' && part === 'timers') await new Promise(() => {});
  }
}
trapSignals(stop, log, mode === 'hang' ? 300 : 20000);
setInterval(() => {}, 1000); // the server this stands for keeps the process alive
console.log('step ready');
`;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  steps: string[];
  logs: Array<{ msg?: string; signal?: string; level?: string }>;
  /** Every line in the order written: steps as text, log lines by their msg. */
  order: string[];
}

/** Start the child, send `signals` (the next one once the step `after` is printed), and collect what it wrote. */
async function run(dir: string, mode: string, signals: Array<{ signal: NodeJS.Signals; after: string }>): Promise<Run> {
  const child = spawn(process.execPath, [path.join(dir, 'child.mjs'), mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  track(child);
  const lines: string[] = [];
  let buffered = '';
  let pending = [...signals];
  child.stdout.on('data', (d: Buffer) => {
    buffered += d.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      lines.push(line);
      const next = pending[0];
      if (next && line === `step ${next.after}`) {
        pending = pending.slice(1);
        child.kill(next.signal);
      }
    }
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 40_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])));
  clearTimeout(killer);
  const steps = lines.filter((l) => l.startsWith('step ')).map((l) => l.slice(5));
  const logs = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Run['logs'][number]);
  const order = lines.map((l) => (l.startsWith('{') ? `log ${(JSON.parse(l) as { msg: string }).msg}` : l.slice(5)));
  return { code, signal, steps, logs, order };
}

t.test('trapSignals in a child process', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lifecycle-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, 'child.mjs'), SCRIPT);

  t.test('SIGTERM runs stop once, its steps in order, then exits 0', async (t) => {
    const r = await run(dir, 'ok', [{ signal: 'SIGTERM', after: 'ready' }]);
    t.equal(r.code, 0, 'exit code 0');
    t.same(r.order, ['ready', 'log shutting down', 'stop-called 1', 'stopped sockets', 'stopped timers', 'stopped redis', 'log stopped']);
    t.match(r.logs[0], { level: 'info', signal: 'SIGTERM' }, 'the log names the signal');
  });

  t.test('SIGINT does the same', async (t) => {
    const r = await run(dir, 'ok', [{ signal: 'SIGINT', after: 'ready' }]);
    t.equal(r.code, 0);
    t.same(r.steps, ['ready', 'stop-called 1', 'stopped sockets', 'stopped timers', 'stopped redis']);
    t.match(r.logs[0], { signal: 'SIGINT' });
  });

  t.test('a stop that fails exits 1 after the steps before the failure', async (t) => {
    const r = await run(dir, 'fail', [{ signal: 'SIGTERM', after: 'ready' }]);
    t.equal(r.code, 1);
    t.same(r.steps, ['ready', 'stop-called 1', 'stopped sockets', 'stopped timers'], 'stopped at the failing step');
    t.match(r.logs.at(-1), { level: 'error', msg: 'unclean stop' });
  });

  t.test('a stop that hangs is cut by the force-exit timer with exit 1', async (t) => {
    const r = await run(dir, 'hang', [{ signal: 'SIGTERM', after: 'ready' }]);
    t.equal(r.code, 1);
    t.same(r.steps, ['ready', 'stop-called 1', 'stopped sockets', 'stopped timers']);
    t.match(r.logs.at(-1), { level: 'error', msg: 'shutdown took too long; exiting', graceMs: 300 });
  });

  t.test('a second signal while stopping exits 1 at once, without running stop again', async (t) => {
    const began = Date.now();
    const r = await run(dir, 'slow', [
      { signal: 'SIGTERM', after: 'ready' },
      { signal: 'SIGINT', after: 'stop-called 1' },
    ]);
    t.equal(r.code, 1);
    t.same(r.steps, ['ready', 'stop-called 1'], 'stop ran once and was not waited for');
    t.match(r.logs.at(-1), { level: 'warn', msg: 'second signal; exiting now', signal: 'SIGINT' });
    t.ok(Date.now() - began < 15_000, 'did not wait for the slow stop (3 × 5 s)');
  });
});
