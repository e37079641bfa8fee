/**
 * What viewers may take now, and when nginx must hear of it: the measured capacity, the household's
 * smoothed upload, the idle upload left, and the viewer budget nginx was last given. The rules are in
 * policy.ts; this holds their state from one reading to the next. Pure: the caller samples and reloads.
 */
import { changedMaterially, householdUploadMbit, idleUploadMbit, perConnectionRate, viewerBudgetMbit } from './policy.js';
import type { UsageSample, ViewerPolicy } from './policy.js';
import type { Capacity } from './speed-test.js';

/** Weight of the newest household-upload sample in its moving average. */
const HOUSEHOLD_SMOOTHING = 0.5;

/** Upload and download capacity in Mbit/s, measured or set in config. */
export type KnownCapacity = Pick<Capacity, 'upMbit' | 'downMbit'>;

/** A budget nginx must be given now. */
export interface BudgetChange {
  fromMbit: number;
  toMbit: number;
  householdMbit: number;
  idleUpMbit: number;
}

export interface ViewerBudgetOptions {
  policy: ViewerPolicy;
  /** Known from config (BANDWIDTH_UP/DOWN), or undefined until a capacity test measures it. */
  capacity: KnownCapacity | undefined;
  /** nginx is reloaded for a new budget at most this often. */
  minReloadMs: number;
}

export class ViewerBudget {
  capacity: KnownCapacity | undefined;
  /** Upload the household leaves spare (Mbit/s); undefined until two samples with a known capacity. */
  idleUpMbit: number | undefined;
  /** The budget nginx's config holds (Mbit/s). */
  appliedMbit: number;
  /**
   * Whether the box's own counters can show the household's upload. Only when the household's traffic
   * passes through the box; on a home LAN it does not, and what they show besides nginx's bytes is the
   * box's own (a capacity test, heartbeats). The queueing-delay controller turns this off while it
   * shapes: it sees the household where it is, in the router's queue.
   */
  householdFromOwnCounters = true;
  private householdMbit: number | undefined;
  private previous: UsageSample | undefined;
  private lastReloadAt = 0;

  constructor(private readonly o: ViewerBudgetOptions) {
    this.capacity = o.capacity;
    // Until household use is measured the household counts as idle.
    this.appliedMbit = viewerBudgetMbit(o.capacity?.upMbit, o.policy);
  }

  get policy(): ViewerPolicy {
    return this.o.policy;
  }

  /**
   * Takes one usage sample. Returns the change to give nginx when the budget moved materially and the
   * last reload is long enough ago (and counts it as applied), else undefined.
   */
  observe(usage: UsageSample): BudgetChange | undefined {
    const measured = this.previous ? householdUploadMbit(this.previous, usage) : undefined;
    const sampled = measured === undefined || this.householdFromOwnCounters ? measured : 0;
    this.previous = usage;
    if (sampled === undefined || this.capacity === undefined) return undefined;
    // Smoothed, so one noisy period does not swing nginx's limits back and forth.
    const household = this.householdMbit === undefined ? sampled : this.householdMbit + HOUSEHOLD_SMOOTHING * (sampled - this.householdMbit);
    this.householdMbit = household;
    const idleUpMbit = idleUploadMbit(this.capacity.upMbit, household);
    this.idleUpMbit = idleUpMbit;
    const budget = viewerBudgetMbit(idleUpMbit, this.o.policy);
    if (!changedMaterially(this.appliedMbit, budget) || usage.atMs - this.lastReloadAt < this.o.minReloadMs) return undefined;
    const change = { fromMbit: this.appliedMbit, toMbit: budget, householdMbit: household, idleUpMbit };
    this.appliedMbit = budget;
    this.lastReloadAt = usage.atMs;
    return change;
  }

  /** What viewers may take with the household idle (Mbit/s): VIEWER_SHARE × capacity, or the floor until capacity is known. */
  get ceilingMbit(): number {
    return viewerBudgetMbit(this.capacity?.upMbit, this.o.policy);
  }

  /** nginx's limit_rate of one response by the connections open when it starts; index 0 is the default. */
  ratesByConnections(): number[] {
    const max = this.o.policy.maxConnections;
    return Array.from({ length: max + 1 }, (_, n) => perConnectionRate(this.appliedMbit, n === 0 ? max : n));
  }
}
