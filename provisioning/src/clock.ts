/**
 * `dandelion provision clock --config FILE`: the SD image sets the time with this before the agent
 * starts (a Pi has no battery-backed clock: it boots in 1970, or at the last shutdown's time).
 * NTP (chrony) comes first; a clock that already agrees with an entrance is left to it at once; when
 * NTP has not set a wrong clock within --wait seconds, the time comes from the Date header of an
 * entrance's challenge endpoint (docs/enrolment.md), over the same connection the box will use anyway. Enrolment itself never trusts the box's clock; TLS certificates and logs do.
 * Never fails the boot: without any time source it says why and exits 0, and the agent's status page
 * shows `no-time`.
 */
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { UsageError, parseRoleArgs } from '../../shared/src/cli.js';
import { enrolmentUrl } from '../../shared/src/enrolment/codec.js';
import { EARLIEST_PLAUSIBLE_MS } from '../../shared/src/plausible-time.js';
import { loadCardConfig } from './card-config.js';

export const CLOCK_HELP = `Usage: dandelion provision clock --config FILE [--wait SECONDS] [--dry-run]

Makes sure the system clock is right before the agent starts. Done at once when NTP has set it, or
when it is within two minutes of an entrance's Date header (FILE's ENTRANCE_URLS, tried in turn);
otherwise waits up to --wait seconds (default 30) for NTP, then sets it from the entrance's Date
header (as root, with date -s).
--dry-run reports what it would do. Always exits 0 once FILE is readable (2 on bad usage or a bad FILE).
`;

/** A clock further off than this from the entrance is set; nearer, NTP is left to slew it. */
const MAX_SKEW_MS = 120_000;

export interface ClockDeps {
  now(): number;
  /** True once NTP has set the clock (chrony's "Leap status: Normal"). */
  ntpSynced(): Promise<boolean>;
  /** The Date header of one entrance, in ms since the epoch. */
  entranceTime(wsUrl: string): Promise<number>;
  setClock(ms: number): Promise<void>;
  say(line: string): void;
}

export async function settleClock(entrances: string[], waitSeconds: number, deps: ClockDeps): Promise<'ntp' | 'entrance' | 'already right' | 'unknown'> {
  if (await deps.ntpSynced().catch(() => false)) {
    deps.say('clock: set by NTP');
    return 'ntp';
  }
  // A clock that agrees with an entrance needs no waiting: NTP will slew it when it comes.
  const first = await entranceSkew(entrances, deps);
  if (first && Math.abs(first.skewMs) <= MAX_SKEW_MS && deps.now() >= EARLIEST_PLAUSIBLE_MS) {
    deps.say(`clock: within ${Math.round(first.skewMs / 1000)} s of ${first.url}; left to NTP`);
    return 'already right';
  }
  const deadline = deps.now() + waitSeconds * 1000;
  while (deps.now() < deadline) {
    await sleep(1000);
    if (await deps.ntpSynced().catch(() => false)) {
      deps.say('clock: set by NTP');
      return 'ntp';
    }
  }
  // Asked again: the first answer is as old as the wait.
  const latest = (await entranceSkew(entrances, deps)) ?? undefined;
  if (latest) {
    await deps.setClock(deps.now() + latest.skewMs);
    deps.say(`clock: NTP not synchronised; set from ${latest.url}'s Date header (was off by ${Math.round(latest.skewMs / 1000)} s)`);
    return 'entrance';
  }
  deps.say('clock: neither NTP nor any entrance gave the time; the agent will show no-time until one does');
  return 'unknown';
}

/** The first entrance that answers: how far its clock is ahead of ours. */
async function entranceSkew(entrances: string[], deps: ClockDeps): Promise<{ url: string; skewMs: number } | undefined> {
  for (const url of entrances) {
    try {
      const askedAt = deps.now();
      const theirs = await deps.entranceTime(url);
      return { url, skewMs: theirs - askedAt };
    } catch (err) {
      deps.say(`clock: no time from ${url}: ${(err as Error).message}`);
    }
  }
  return undefined;
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', () => resolve({ code: null, out: '' }));
    p.on('close', (code) => resolve({ code, out }));
  });
}

export const SYSTEM_CLOCK: Omit<ClockDeps, 'say'> = {
  now: () => Date.now(),
  async ntpSynced() {
    const { code, out } = await run('chronyc', ['-n', 'tracking']);
    return code === 0 && /^Leap status\s*:\s*Normal/m.test(out);
  },
  async entranceTime(wsUrl) {
    const res = await fetch(enrolmentUrl(wsUrl, 'challenge'), { signal: AbortSignal.timeout(10_000) });
    await res.body?.cancel();
    const date = Date.parse(res.headers.get('date') ?? '');
    if (!Number.isFinite(date)) throw new Error('no Date header');
    // The header has whole seconds; half a second is the expected error.
    return date + 500;
  },
  async setClock(ms) {
    const { code } = await run('date', ['-u', '-s', `@${Math.round(ms / 1000)}`]);
    if (code !== 0) throw new Error('date -s failed (not root?)');
  },
};

export async function clockCommand(args: string[]): Promise<void> {
  const opts = parseRoleArgs(args, { wait: { type: 'string' }, 'dry-run': { type: 'boolean' } });
  if (opts.help) {
    process.stdout.write(CLOCK_HELP);
    return;
  }
  if (opts.configFile === undefined) throw new UsageError('provision clock: --config FILE is required');
  const waitText = typeof opts.values.wait === 'string' ? opts.values.wait : '30';
  const wait = Number(waitText);
  if (!/^\d+$/.test(waitText) || wait > 3600) throw new UsageError('provision clock: --wait must be whole seconds, at most 3600');
  const { agent } = loadCardConfig(opts.configFile);
  const dryRun = opts.values['dry-run'] === true;
  await settleClock(agent.ENTRANCE_URLS, wait, {
    ...SYSTEM_CLOCK,
    setClock: dryRun ? async () => undefined : SYSTEM_CLOCK.setClock,
    say: (line) => process.stdout.write(`${dryRun ? '(dry run) ' : ''}${line}\n`),
  });
}
