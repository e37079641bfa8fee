// The launcher's slot logic (firmware-image/dandelion-agent-run --slots DIR): which binary starts for
// each state file, trials counted and rolled back after 3 starts or past their deadline (failed_version and
// failed_reason written, the confirmed slot started), an unreadable state or an empty slot falls back to
// the factory binary, and a trial alive past its deadline is stopped by the launcher's watchdog. The
// "binaries" here are shell scripts that say who they are; the real binary's updates are test/binary/agent-update.test.ts.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const LAUNCHER = path.join(ROOT, 'firmware-image', 'dandelion-agent-run');

function fakeBinary(file: string, name: string, body = ''): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `#!/bin/sh\necho "${name} $*"\n${body}`);
  chmodSync(file, 0o755);
}

function box(t: { testdir(): string }, state?: string) {
  const dir = t.testdir();
  const slots = path.join(dir, 'update');
  fakeBinary(path.join(dir, 'factory'), 'factory');
  fakeBinary(path.join(slots, 'slot-a', 'dandelion'), 'slot-a');
  fakeBinary(path.join(slots, 'slot-b', 'dandelion'), 'slot-b');
  if (state !== undefined) writeFileSync(path.join(slots, 'state'), state);
  const start = () => {
    // WATCHDOG_USEC 3 s: the launcher's watchdog (which holds the pipes) looks every second, not every 10 s.
    const r = spawnSync(LAUNCHER, ['--slots', slots, path.join(dir, 'factory'), 'agent', '--config', 'c.yaml'], { encoding: 'utf8', env: { PATH: process.env.PATH, WATCHDOG_USEC: '3000000' } });
    return { code: r.status, stdout: r.stdout.trim(), stderr: r.stderr };
  };
  const read = (): Record<string, string> => Object.fromEntries(readFileSync(path.join(slots, 'state'), 'utf8').trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  return { dir, slots, start, read };
}

const now = () => Math.floor(Date.now() / 1000);

t.test('no state, a confirmed slot, an empty slot, an unreadable state', async (t) => {
  t.equal(box(t).start().stdout, 'factory agent --config c.yaml', 'no state: the factory binary, with its arguments');
  t.equal(box(t, 'current=b\ncurrent_version=1.1.0\n').start().stdout, 'slot-b agent --config c.yaml');
  const empty = box(t, 'current=a\n');
  spawnSync('rm', [path.join(empty.slots, 'slot-a', 'dandelion')]);
  t.match(empty.start(), { stdout: /^factory /, stderr: /slot a holds no binary; starting the factory binary/ });
  for (const bad of ['current=c\n', 'current=a\ntrial=a\ntrial_deadline=soon\n', 'current=$(reboot)\n', 'current=a\ntrial_version=1 2\n']) {
    const b = box(t, bad);
    t.match(b.start(), { stdout: /^factory /, stderr: /state is unreadable/ }, JSON.stringify(bad));
    t.equal(readFileSync(path.join(b.slots, 'state'), 'utf8'), bad, 'an unreadable state is left for the agent to report');
  }
  t.equal(box(t, 'current=b\nSOMETHING_NEW=1\n').start().stdout.split(' ')[0], 'slot-b', 'unknown keys are ignored');
});

t.test('a trial starts from its slot three times, then is rolled back', async (t) => {
  const b = box(t, `current=a\ncurrent_version=1.1.0\ntrial=b\ntrial_version=1.2.0\ntrial_deadline=${now() + 300}\ntrial_starts=0\nfailed_version=\nfailed_reason=\n`);
  for (let i = 1; i <= 3; i++) {
    t.equal(b.start().stdout.split(' ')[0], 'slot-b', `start ${i}: the trial`);
    t.equal(b.read().trial_starts, String(i));
  }
  const fourth = b.start();
  t.equal(fourth.stdout.split(' ')[0], 'slot-a', 'the fourth start: the confirmed slot');
  t.match(fourth.stderr, /update to 1\.2\.0 rolled back: exited 3 times without registering/);
  t.match(b.read(), { current: 'a', current_version: '1.1.0', trial: '', trial_version: '', failed_version: '1.2.0', failed_reason: 'exited 3 times without registering' });
  t.equal(b.start().stdout.split(' ')[0], 'slot-a', 'and stays there');
});

t.test('a trial past its deadline, or whose slot is empty, is rolled back to the factory binary when nothing was confirmed', async (t) => {
  const late = box(t, `current=factory\ntrial=a\ntrial_version=1.2.0\ntrial_deadline=${now() - 5}\ntrial_starts=1\n`);
  t.equal(late.start().stdout.split(' ')[0], 'factory');
  t.match(late.read(), { current: 'factory', trial: '', failed_version: '1.2.0', failed_reason: /did not register within the deadline/ });
  const gone = box(t, `current=b\ntrial=a\ntrial_version=1.2.0\ntrial_deadline=${now() + 300}\ntrial_starts=0\n`);
  spawnSync('rm', [path.join(gone.slots, 'slot-a', 'dandelion')]);
  t.equal(gone.start().stdout.split(' ')[0], 'slot-b');
  t.match(gone.read(), { trial: '', failed_version: '1.2.0', failed_reason: 'slot a holds no binary' });
});

t.test("the watchdog stops a trial that is alive but unconfirmed at its deadline; a confirmed one runs on", async (t) => {
  const run = (b: ReturnType<typeof box>) => new Promise<{ ms: number; stdout: string }>((resolve) => {
    const started = Date.now();
    // The trial "agent" runs until it is signalled; the launcher's watchdog looks every second.
    const p = spawn(LAUNCHER, ['--slots', b.slots, path.join(b.dir, 'factory'), 'agent'], { env: { PATH: process.env.PATH, WATCHDOG_USEC: '3000000' } });
    let stdout = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const guard = setTimeout(() => p.kill('SIGKILL'), 8000);
    p.on('exit', () => {
      clearTimeout(guard);
      resolve({ ms: Date.now() - started, stdout });
    });
  });
  const trial = box(t, `current=a\ntrial=b\ntrial_version=1.2.0\ntrial_deadline=${now() + 2}\ntrial_starts=0\n`);
  fakeBinary(path.join(trial.slots, 'slot-b', 'dandelion'), 'slot-b', 'trap "echo stopped; exit 0" TERM\nwhile :; do sleep 0.2; done\n');
  const stopped = await run(trial);
  t.match(stopped.stdout, /slot-b agent\nstopped/, 'SIGTERM, so the agent stops its nginx cleanly');
  t.ok(stopped.ms < 7000, `stopped soon after its deadline, not by the test's guard (${stopped.ms} ms)`);
  t.equal(trial.start().stdout.split(' ')[0], 'slot-a', 'the next start rolls it back');
  t.match(trial.read(), { failed_version: '1.2.0', failed_reason: /did not register within the deadline/ });

  const confirmed = box(t, 'current=b\ncurrent_version=1.2.0\n');
  fakeBinary(path.join(confirmed.slots, 'slot-b', 'dandelion'), 'slot-b', 'sleep 4\necho done\n');
  t.match((await run(confirmed)).stdout, /slot-b agent\ndone/, 'a confirmed slot is never stopped by the watchdog');
});

t.test('the backoff between failed starts is skipped for a trial\'s first start (the agent exited 75 on purpose)', async (t) => {
  const b = box(t, 'current=a\ncurrent_version=1.1.0\n');
  const runtime = path.join(b.dir, 'runtime');
  mkdirSync(runtime);
  // As after failed starts: the unit's RuntimeDirectory holds the next wait.
  writeFileSync(path.join(runtime, 'backoff'), '4\n');
  const start = () => {
    const r = spawnSync(LAUNCHER, ['--slots', b.slots, path.join(b.dir, 'factory'), 'agent'], { encoding: 'utf8', env: { PATH: process.env.PATH, WATCHDOG_USEC: '3000000', RUNTIME_DIRECTORY: runtime } });
    return { stdout: r.stdout.trim(), stderr: r.stderr };
  };
  const failed = start();
  t.match(failed.stderr, /restarting after a failure; waiting 4 s/, 'a start after failures waits');
  t.equal(readFileSync(path.join(runtime, 'backoff'), 'utf8').trim(), '8', 'and the next wait doubles');
  writeFileSync(path.join(b.slots, 'state'), `current=a\ncurrent_version=1.1.0\ntrial=b\ntrial_version=1.2.0\ntrial_deadline=${now() + 300}\ntrial_starts=0\n`);
  const trial = start();
  t.equal(trial.stdout.split(' ')[0], 'slot-b', 'the new trial starts');
  t.notMatch(trial.stderr, /waiting/, 'at once');
  t.equal(readFileSync(path.join(runtime, 'backoff'), 'utf8').trim(), '2', 'and a failure of its own waits from the start of the backoff');
  const again = start();
  t.match(again.stderr, /waiting 2 s/, 'a second start of the trial is after a failure: it waits');
  t.equal(again.stdout.split(' ')[0], 'slot-b');
});
