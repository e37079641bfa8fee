/**
 * The box's own pacing of viewer traffic: an htb root on the interface towards the entrance with two
 * classes that never borrow from each other, one for what nginx sends from the viewer ports (rate =
 * ceil = the controller's rate) and a default one for everything else (heartbeats, the publisher port,
 * the household's own use of the box). Unlike nginx's limit_rate, a class rate changes at once for
 * the connections already open and needs no reload. Needs CAP_NET_ADMIN (the SD image's unit grants it).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

const VIEWER_CLASS = '1:10';
const OTHER_CLASS = '1:20';
/** The default class's rate: far above any home link, so only the viewer class is ever limited. */
const UNLIMITED = '10gbit';
/** Bytes a class sends per round; fixed, because htb's rate/r2q default overflows at 10gbit. */
const QUANTUM = 60_000;
/** The class's burst, as time at its rate: small, so the router's queue never sees a burst worth a frame of video. */
const BURST_SECONDS = 0.005;
const MIN_BURST_BYTES = 16 * 1024;

/** Debian keeps tc in /usr/sbin, which a service's PATH may lack. */
export function tcBinary(): string {
  return ['/usr/sbin/tc', '/sbin/tc'].find((p) => existsSync(p)) ?? 'tc';
}

/** The class's rate and burst arguments for `mbit` (tc takes bit/s and bytes). */
export function rateArgs(mbit: number): string[] {
  const bits = Math.max(8_000, Math.round(mbit * 1e6));
  const burst = Math.max(MIN_BURST_BYTES, Math.round((bits / 8) * BURST_SECONDS));
  return ['rate', `${bits}bit`, 'ceil', `${bits}bit`, 'burst', `${burst}b`, 'cburst', `${burst}b`, 'quantum', `${QUANTUM}`];
}

/** The tc commands (argument lists) that build the classes on `iface` for viewers on `ports` at `mbit`. */
export function setupCommands(iface: string, ports: readonly number[], mbit: number): string[][] {
  const dev = ['dev', iface];
  const classArgs = (id: string, rate: string[]): string[] => ['class', 'add', ...dev, 'parent', '1:', 'classid', id, 'htb', ...rate];
  return [
    ['qdisc', 'add', ...dev, 'root', 'handle', '1:', 'htb', 'default', '20'],
    classArgs(VIEWER_CLASS, rateArgs(mbit)),
    classArgs(OTHER_CLASS, ['rate', UNLIMITED, 'ceil', UNLIMITED, 'quantum', `${QUANTUM}`]),
    ...ports.flatMap((port) => [
      ['filter', 'add', ...dev, 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'u32', 'match', 'ip', 'sport', `${port}`, '0xffff', 'flowid', VIEWER_CLASS],
      ['filter', 'add', ...dev, 'parent', '1:', 'protocol', 'ipv6', 'prio', '2', 'u32', 'match', 'ip6', 'sport', `${port}`, '0xffff', 'flowid', VIEWER_CLASS],
    ]),
  ];
}

export class TcShaper {
  private iface: string | undefined;
  private readonly tc = tcBinary();

  /** The interface shaped now, if any. */
  get shaping(): string | undefined {
    return this.iface;
  }

  /** Replace whatever root qdisc `iface` has with the two classes. Throws what tc said when it refuses. */
  async start(iface: string, ports: readonly number[], mbit: number): Promise<void> {
    await this.stop();
    await this.clear(iface);
    try {
      for (const args of setupCommands(iface, ports, mbit)) await this.exec(args);
    } catch (err) {
      await this.clear(iface);
      throw err;
    }
    this.iface = iface;
  }

  async setRate(mbit: number): Promise<void> {
    if (this.iface === undefined) return;
    await this.exec(['class', 'change', 'dev', this.iface, 'parent', '1:', 'classid', VIEWER_CLASS, 'htb', ...rateArgs(mbit)]);
  }

  /** Give the interface back its default queueing. */
  async stop(): Promise<void> {
    const iface = this.iface;
    this.iface = undefined;
    if (iface !== undefined) await this.clear(iface);
  }

  private async clear(iface: string): Promise<void> {
    // Fails when there is no root qdisc of ours to delete, which is what we want anyway.
    await this.exec(['qdisc', 'del', 'dev', iface, 'root']).catch(() => undefined);
  }

  private async exec(args: string[]): Promise<void> {
    try {
      await run(this.tc, args, { timeout: 5_000 });
    } catch (err) {
      const stderr = typeof err === 'object' && err !== null && 'stderr' in err ? String(err.stderr).trim() : '';
      throw new Error(`tc ${args.join(' ')} failed${stderr ? `: ${stderr}` : ''}`);
    }
  }
}
