/**
 * The box's own pacing of viewer traffic: an htb root on the interface towards the entrance sorts what
 * nginx sends from the viewer ports into a class whose token bucket (tbf) holds the controller's rate;
 * everything else (heartbeats, the publisher port, the household's own use of the box) goes through
 * the other class untouched. Unlike nginx's limit_rate, the rate changes at once for the connections
 * already open and needs no reload. Needs CAP_NET_ADMIN (the SD image's unit grants it).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

const VIEWER_CLASS = '1:10';
const OTHER_CLASS = '1:20';
/** The viewer class's own queue: a token bucket, which holds the rate. */
const VIEWER_QDISC = '10:';
/** Both classes' htb rate: far above any home link, so htb only sorts and the token bucket paces. */
const UNLIMITED = '10gbit';
/** Bytes a class sends per round; fixed, because htb's rate/r2q default overflows at 10gbit. */
const QUANTUM = 60_000;
/**
 * The token bucket's burst: two full frames. A larger one lets the kernel's 64 KB segmentation-offload
 * packets through whole, which reach the router at line speed and queue there for tens of ms ahead of
 * the household's packets; tbf cuts a packet larger than its burst into frames and paces each.
 */
const BURST_BYTES = 2 * 1514;
/**
 * Bytes the viewer queue holds, whatever the rate. A queue sized by time (tbf's latency) is a few frames
 * at the floor rate: viewers' connections then lose packet after packet, back off for seconds, and do
 * not take the upload back when the household stops. TCP's small-queue limit keeps what each connection
 * actually puts here far below this.
 */
const QUEUE_LIMIT_BYTES = 256 * 1024;

/** Debian keeps tc in /usr/sbin, which a service's PATH may lack. */
export function tcBinary(): string {
  return ['/usr/sbin/tc', '/sbin/tc'].find((p) => existsSync(p)) ?? 'tc';
}

/** The viewer queue's token-bucket arguments for `mbit` (tc takes bit/s and bytes). */
export function rateArgs(mbit: number): string[] {
  const bits = Math.max(8_000, Math.round(mbit * 1e6));
  return ['tbf', 'rate', `${bits}bit`, 'burst', `${BURST_BYTES}`, 'limit', `${QUEUE_LIMIT_BYTES}`];
}

/** The tc commands (argument lists) that build the classes on `iface` for viewers on `ports` at `mbit`. */
export function setupCommands(iface: string, ports: readonly number[], mbit: number): string[][] {
  const dev = ['dev', iface];
  const classArgs = (id: string): string[] => ['class', 'add', ...dev, 'parent', '1:', 'classid', id, 'htb', 'rate', UNLIMITED, 'ceil', UNLIMITED, 'quantum', `${QUANTUM}`];
  return [
    ['qdisc', 'add', ...dev, 'root', 'handle', '1:', 'htb', 'default', '20'],
    classArgs(VIEWER_CLASS),
    classArgs(OTHER_CLASS),
    ['qdisc', 'add', ...dev, 'parent', VIEWER_CLASS, 'handle', VIEWER_QDISC, ...rateArgs(mbit)],
    ...ports.flatMap((port) => [
      ['filter', 'add', ...dev, 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'u32', 'match', 'ip', 'sport', `${port}`, '0xffff', 'flowid', VIEWER_CLASS],
      ['filter', 'add', ...dev, 'parent', '1:', 'protocol', 'ipv6', 'prio', '2', 'u32', 'match', 'ip6', 'sport', `${port}`, '0xffff', 'flowid', VIEWER_CLASS],
    ]),
  ];
}

export class TcShaper {
  private iface: string | undefined;
  private ports: readonly number[] = [];
  private readonly tc = tcBinary();

  /** The interface shaped now, if any. */
  get shaping(): string | undefined {
    return this.iface;
  }

  /** Whether `iface` is shaped for exactly `ports` (the HTTPS port joins once a certificate is served). */
  shapes(iface: string, ports: readonly number[]): boolean {
    return this.iface === iface && this.ports.length === ports.length && ports.every((p, i) => this.ports[i] === p);
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
    this.ports = [...ports];
  }

  async setRate(mbit: number): Promise<void> {
    if (this.iface === undefined) return;
    await this.exec(['qdisc', 'change', 'dev', this.iface, 'parent', VIEWER_CLASS, 'handle', VIEWER_QDISC, ...rateArgs(mbit)]);
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
