/**
 * Yielding to the household as it happens: while viewers are being served the box pings its entrance
 * every ACTIVE_PROBE_MS, turns each round trip into a viewer rate (delay-controller.ts) and sets it on
 * its own tc class (tc-shaper.ts), so viewers slow down within a few probes of the household starting
 * an upload and speed up as soon as the router's queue is empty again. While nothing is served it pings
 * once a heartbeat period, which keeps the base delay fresh at almost no cost to the entrance.
 *
 * It shapes the interface the box reaches its entrance by, never a loopback one (the demo and the tests
 * run everything on 127.0.0.1). Without CAP_NET_ADMIN or tc it says so once and leaves viewers to
 * nginx's own limits (viewer budget and UPLOAD_CAP_MBIT).
 */
import type { Logger } from '../../../../shared/src/log.js';
import { messageOf } from '../../../../shared/src/protocol/errors.js';
import { roundMbit } from '../policy.js';
import { DelayController } from './delay-controller.js';
import { interfaceOf, interfaceSentBytes } from './interface-counters.js';
import { TcShaper } from './tc-shaper.js';

/** Probe interval while viewers are served: a household's upload is seen within two of them. */
export const ACTIVE_PROBE_MS = 200;
/** A ping not answered within this counts as no sample (a lost pong is not a measurement). */
const PROBE_TIMEOUT_MS = 1_000;
/** The box counts as serving when its interface sends at least this (Mbit/s) or half its viewer rate. */
const ACTIVE_MBIT = 0.5;
/** A new rate is given to tc only when it differs from the one applied by more than this share. */
const APPLY_STEP = 0.03;
/** Below this share of the ceiling the box is "yielding" in its logs and status. */
const YIELDING_SHARE = 0.5;

export interface HouseholdYieldDeps {
  /** The ports nginx sends viewers' files from (BOX_HTTP_PORT and, once served, BOX_HTTPS_PORT). */
  ports(): number[];
  /** The rate's ceiling now (Mbit/s): the viewer budget, within the household's cap. */
  maxMbit(): number;
  floorMbit: number;
  targetMs: number;
  /** The box's address on its socket to the entrance; its interface is the one shaped. */
  localAddress(): string | undefined;
  /** One ping's round trip to an entrance (ms), undefined when none answered. */
  roundTripMs(timeoutMs: number): Promise<number | undefined>;
  /** The heartbeat period: how often to probe while nothing is served. */
  periodMs: number;
  log: Logger;
  /** The shaping started (true) or could not start (false). */
  onShaping?(shaping: boolean): void;
  shaper?: TcShaper;
}

export class HouseholdYield {
  private readonly controller: DelayController;
  private readonly shaper: TcShaper;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private stopped = false;
  private disabled = false;
  private applied: number | undefined;
  private lastProbeAt = 0;
  private lastTx: { at: number; bytes: number } | undefined;
  private yielding = false;

  constructor(private readonly deps: HouseholdYieldDeps) {
    this.controller = new DelayController({ targetMs: deps.targetMs, floorMbit: deps.floorMbit });
    this.shaper = deps.shaper ?? new TcShaper();
  }

  /** The viewer rate tc holds now (Mbit/s), undefined while the box does not shape. */
  get rateMbit(): number | undefined {
    return this.shaper.shaping === undefined ? undefined : this.applied;
  }

  /** The queueing delay last estimated at the router (ms). */
  get queueingMs(): number {
    return this.controller.queueingMs;
  }

  start(): void {
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    // A tick in flight may be building the shaping: it must end before the shaping is taken away.
    await this.ticking;
    await this.shaper.stop().catch((err: unknown) => this.deps.log.warn({ err: messageOf(err) }, 'could not remove the viewer shaping'));
  }

  private schedule(): void {
    if (this.stopped || this.disabled) return;
    this.timer = setTimeout(() => {
      this.ticking = this.tick()
        .catch((err: unknown) => this.deps.log.warn({ err: messageOf(err) }, 'household yield: probe failed'))
        .finally(() => {
          this.ticking = undefined;
          this.schedule();
        });
    }, ACTIVE_PROBE_MS);
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const iface = await this.shapedInterface();
    if (iface === undefined) return;
    // Paused by the household (quota, quiet hours): nothing to pace and nothing to ask the entrance.
    if (this.deps.maxMbit() === 0) return;
    const now = Date.now();
    const active = await this.serving(iface, now);
    if (!active && now - this.lastProbeAt < this.deps.periodMs) return;
    this.lastProbeAt = now;
    const rtt = await this.deps.roundTripMs(PROBE_TIMEOUT_MS);
    if (rtt === undefined || this.stopped) return;
    const max = this.deps.maxMbit();
    await this.apply(this.controller.observe(rtt, Date.now(), max), max);
  }

  /** The interface to shape, set up on first sight and again when the route to the entrance moves or a viewer port joins; undefined to do nothing now. */
  private async shapedInterface(): Promise<string | undefined> {
    const iface = interfaceOf(this.deps.localAddress());
    if (iface === undefined) return undefined;
    const ports = this.deps.ports();
    if (this.shaper.shapes(iface, ports)) return iface;
    const rate = this.controller.rateMbit(this.deps.maxMbit());
    try {
      await this.shaper.start(iface, ports, rate);
    } catch (err) {
      this.disabled = true;
      this.deps.onShaping?.(false);
      this.deps.log.warn({ iface, err: messageOf(err) }, 'cannot shape viewer traffic (tc needs CAP_NET_ADMIN): yielding to the household only through the viewer budget');
      return undefined;
    }
    this.applied = rate;
    this.deps.onShaping?.(true);
    this.deps.log.info({ iface, rateMbit: roundMbit(rate), ports }, 'shaping viewer traffic to yield to the household');
    return iface;
  }

  /** Whether viewers are being served: the interface's send rate since the last tick. */
  private async serving(iface: string, now: number): Promise<boolean> {
    const bytes = await interfaceSentBytes(iface);
    const last = this.lastTx;
    this.lastTx = bytes === undefined ? undefined : { at: now, bytes };
    if (!last || bytes === undefined || now <= last.at) return false;
    const mbit = ((bytes - last.bytes) * 8) / ((now - last.at) / 1000) / 1e6;
    return mbit >= Math.min(ACTIVE_MBIT, 0.5 * (this.applied ?? ACTIVE_MBIT));
  }

  private async apply(rate: number, max: number): Promise<void> {
    const applied = this.applied;
    const atBound = rate === max || rate === Math.min(this.deps.floorMbit, max);
    if (applied !== undefined && applied !== rate && !atBound && Math.abs(rate - applied) / applied <= APPLY_STEP) return;
    if (applied === rate) return;
    try {
      await this.shaper.setRate(rate);
      this.applied = rate;
    } catch (err) {
      this.deps.log.warn({ err: messageOf(err) }, 'viewer rate not changed');
      return;
    }
    const yielding = rate < YIELDING_SHARE * max;
    if (yielding !== this.yielding) {
      this.yielding = yielding;
      const fields = { rateMbit: roundMbit(rate), maxMbit: roundMbit(max), queueingMs: Math.round(this.controller.queueingMs), baseMs: Math.round(this.controller.baseMs()) };
      this.deps.log.info(fields, yielding ? 'household is using the upload: viewers slowed down' : 'upload idle again: viewers back to full rate');
    }
  }
}
