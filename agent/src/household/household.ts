/**
 * The household's say over the box: its monthly upload quota, quiet hours and upload cap, from
 * dandelion.yaml or set on the LAN status page, and the pause they add up to. Re-evaluated every minute
 * and on each new count of served bytes; every change in what is in force (pause, cap, settings) is
 * reported to the onChange listeners, which reload nginx, rewrite the status page and tell the entrances.
 *
 * For the viewer-rate controller: `capMbit` is the hard ceiling (0 = none) and `pause.reason` set means
 * serve nothing.
 */
import path from 'node:path';
import type { Logger } from '../../../shared/src/log.js';
import { MonthlyUsage } from './monthly-usage.js';
import { BYTES_PER_GB, SERVING, pauseSentence, pauseState, samePause } from './pause.js';
import type { PauseState } from './pause.js';
import { decodeOverrides, effectiveSettings, sourcesOf, withoutConfigValues } from './settings.js';
import type { HouseholdSettings, SettingKey, SettingOverrides, SettingSource } from './settings.js';
import { readStateFile, writeStateFile } from './state-file.js';

/**
 * The pause is decided again at the start of every minute without a new count: quiet hours and months
 * start and end on a minute, so a pause begins and ends within the timer's lag of its time.
 */
export const HOUSEHOLD_CHECK_MS = 60_000;
/** Past the minute's start, so a timer that fires early still lands in the new minute. */
const CHECK_LAG_MS = 50;
/** The month's count reaches the disk within this long of a change (not with every chunk of the log: SD-card wear), and at stop. */
const USAGE_SAVE_MS = 30_000;
/** While paused, the listeners hear again this often, so nginx's Retry-After is never far off. */
const PAUSE_REFRESH_MS = 10 * 60_000;

export interface HouseholdDeps {
  /** dandelion.yaml's three keys. */
  config: HouseholdSettings;
  runDirectory: string;
  log: Logger;
  /** The clock (tests move it to another hour or month). */
  now?: () => number;
}

/** What the status page and the EXCHANGE show of the household. */
export interface HouseholdView {
  settings: HouseholdSettings;
  sources: Record<SettingKey, SettingSource>;
  pause: PauseState;
  quotaUsedGb: number;
}

export type HouseholdListener = (view: HouseholdView) => void;

export class Household {
  private readonly usage: MonthlyUsage;
  private readonly overridesFile: string;
  private overrides: SettingOverrides = {};
  private current: PauseState = SERVING;
  private readonly listeners: HouseholdListener[] = [];
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private saveTimer: NodeJS.Timeout | undefined;
  private lastEmitAt = 0;
  private readonly now: () => number;

  constructor(private readonly deps: HouseholdDeps) {
    this.now = deps.now ?? Date.now;
    this.usage = new MonthlyUsage({ file: path.join(deps.runDirectory, 'upload-month.json'), log: deps.log });
    this.overridesFile = path.join(deps.runDirectory, 'household.json');
  }

  /** The upload cap in force, Mbit/s (0 = none): the ceiling of every viewer rate. */
  get capMbit(): number {
    return this.settings.UPLOAD_CAP_MBIT;
  }

  /**
   * What viewers may take at most, given what the box would otherwise allow them (Mbit/s): 0 while paused,
   * else that under the cap. The viewer-rate controller's maximum is ceilingMbit(VIEWER_SHARE × capacity).
   */
  ceilingMbit(allowedMbit: number): number {
    if (this.current.reason !== undefined) return 0;
    const cap = this.capMbit;
    return cap > 0 ? Math.min(allowedMbit, cap) : allowedMbit;
  }

  /** Whether and why the box serves nobody now, and until when. */
  get pause(): PauseState {
    return this.current;
  }

  /** The household's clock (Retry-After counts from it). */
  nowMs(): number {
    return this.now();
  }

  get settings(): HouseholdSettings {
    return effectiveSettings(this.deps.config, this.overrides);
  }

  /** Called with the new view after each change of pause, cap or settings. */
  onChange(listener: HouseholdListener): void {
    this.listeners.push(listener);
  }

  view(): HouseholdView {
    const quotaUsedGb = this.usage.usedBytes(this.now()) / BYTES_PER_GB;
    return { settings: this.settings, sources: sourcesOf(this.overrides), pause: this.current, quotaUsedGb };
  }

  /** Loads the month's count and the status page's settings, decides the pause, then checks every minute. */
  async start(): Promise<void> {
    await this.usage.load(this.now());
    this.overrides = await readStateFile(this.overridesFile, decodeOverrides, {}, this.deps.log);
    this.current = this.decide();
    if (this.current.reason !== undefined) this.deps.log.warn({ reason: this.current.reason, until: this.current.until }, pauseSentence(this.current));
    this.scheduleCheck();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    clearTimeout(this.saveTimer);
    this.timer = undefined;
    this.saveTimer = undefined;
    this.stopped = true;
    await this.usage.save();
  }

  /** Bytes nginx served to viewers (from the access log); may use up the quota. */
  served(bytes: number): void {
    const now = this.now();
    this.usage.add(bytes, now);
    this.saveSoon();
    this.evaluate();
  }

  /** The count on disk within USAGE_SAVE_MS of any change, without a write for every chunk of the log. */
  private saveSoon(): void {
    if (this.saveTimer !== undefined || this.stopped) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      void this.usage.save();
    }, USAGE_SAVE_MS);
    this.saveTimer.unref();
  }

  /**
   * Decide the pause again; tell the listeners when it changed, and every PAUSE_REFRESH_MS while it holds
   * (nginx's Retry-After counts down from when it was written).
   */
  evaluate(): void {
    const next = this.decide();
    if (samePause(next, this.current)) {
      if (next.reason !== undefined && this.now() - this.lastEmitAt >= PAUSE_REFRESH_MS) this.emit();
      return;
    }
    const before = this.current;
    this.current = next;
    this.deps.log.info({ reason: next.reason ?? null, until: next.until ?? null, was: before.reason ?? null }, next.reason === undefined ? `serving again (was ${pauseSentence(before)})` : pauseSentence(next));
    this.emit();
  }

  /**
   * The household's settings from the status page (each already checked by decodeOverrides); values equal
   * to dandelion.yaml's are not kept as overrides. Stored before they take effect.
   */
  set(next: SettingOverrides): Promise<void> {
    return this.store(withoutConfigValues(this.deps.config, { ...this.overrides, ...next }));
  }

  /** Back to dandelion.yaml's values for all three. */
  reset(): Promise<void> {
    return this.store({});
  }

  private async store(overrides: SettingOverrides): Promise<void> {
    await writeStateFile(this.overridesFile, overrides);
    this.overrides = overrides;
    this.deps.log.info({ settings: this.settings, sources: sourcesOf(overrides) }, 'household settings changed on the status page');
    const before = this.current;
    this.current = this.decide();
    if (!samePause(before, this.current)) this.deps.log.info({ reason: this.current.reason ?? null, until: this.current.until ?? null }, pauseSentence(this.current));
    this.emit();
  }

  /** The next check at the start of the next wall-clock minute (real time: nginx and viewers live in it). */
  private scheduleCheck(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.evaluate();
      this.scheduleCheck();
    }, HOUSEHOLD_CHECK_MS - (Date.now() % HOUSEHOLD_CHECK_MS) + CHECK_LAG_MS);
    this.timer.unref();
  }

  private decide(): PauseState {
    const now = this.now();
    return pauseState(this.settings, now, this.usage.usedBytes(now));
  }

  private emit(): void {
    this.lastEmitAt = this.now();
    const view = this.view();
    for (const listener of this.listeners) listener(view);
  }
}
