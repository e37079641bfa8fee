/**
 * When to read the access log: on the log folder's file events (a burst of nginx writes becomes one
 * pass), and on a fallback poll when events are missed. One pass at a time, each scheduled with
 * setTimeout after the last one ends, so passes never overlap.
 *
 * The folder is watched with fs.watch (inotify), not chokidar: chokidar answers every event in a
 * folder by reading the folder again and lstat-ing each entry, and nginx writes the log once per
 * request (or per buffer), so under load that cost more of the agent's CPU than reading the log itself
 * (bench serving). Here an event costs one name comparison.
 */
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../../shared/src/log.js';

/** A burst of writes from nginx becomes one pass, not one pass per request. */
const EVENT_DELAY_MS = 250;

export interface FollowerDeps {
  logPath: string;
  /** Fallback poll period in ms. */
  pollMs: number;
  /** One read pass; a rejection is logged and retried at the next poll. */
  pass(): Promise<unknown>;
  log: Logger;
}

export class LogFollower {
  private readonly logPath: string;
  private readonly logName: string;
  private readonly eventDelayMs: number;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private dueAt = 0;
  private ticking = false;
  private eventDuringTick = false;
  private stopped = false;

  constructor(private readonly deps: FollowerDeps) {
    this.logPath = path.resolve(deps.logPath);
    this.logName = path.basename(this.logPath);
    this.eventDelayMs = Math.min(EVENT_DELAY_MS, deps.pollMs);
  }

  /** Watch the log, run the first pass (its error rejects start), then keep following. */
  async start(): Promise<void> {
    this.stopped = false;
    // Watch before the first pass, so a line written during it is not left for the fallback poll.
    // Watch the folder, not the file: the log may not exist yet, and rotation replaces it.
    // A rotation renames the log and nginx creates it again: both are events under the log's name.
    const w = this.watchFolder(path.dirname(this.logPath));
    this.watcher = w;
    this.ticking = true; // events during the first pass ask for another one, as during a tick
    this.eventDuringTick = false;
    try {
      await this.deps.pass();
    } catch (err) {
      this.watcher = undefined;
      w?.close();
      throw err;
    } finally {
      this.ticking = false;
    }
    this.schedule(this.eventDuringTick ? this.eventDelayMs : this.deps.pollMs);
  }

  /** Stop watching and clear the timer; a pass in flight finishes on its own. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    const w = this.watcher;
    this.watcher = undefined;
    w?.close();
  }

  /** The folder's watcher, or undefined (logged) when it cannot be watched: the poll still reads the log. */
  private watchFolder(dir: string): FSWatcher | undefined {
    const failed = (err: unknown): void => this.deps.log.warn({ err, dir }, 'watching the access log failed; polling only');
    try {
      // Without a name (some file systems give none) the event may be the log's: read anyway.
      const w = watch(dir, (_event, name) => {
        if (name === null || name === this.logName) this.onLogEvent();
      });
      w.on('error', (err) => {
        failed(err);
        w.close();
      });
      return w;
    } catch (err) {
      failed(err);
      return undefined;
    }
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.stopped) return;
    this.dueAt = Date.now() + ms;
    this.timer = setTimeout(() => void this.tick(), ms);
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    this.ticking = true;
    this.eventDuringTick = false;
    try {
      await this.deps.pass();
    } catch (err) {
      this.deps.log.warn({ err }, 'traffic pass failed; position kept in redis, will retry');
    } finally {
      this.ticking = false;
      this.schedule(this.eventDuringTick ? this.eventDelayMs : this.deps.pollMs);
    }
  }

  private onLogEvent(): void {
    if (this.ticking) this.eventDuringTick = true;
    else if (this.timer !== undefined && this.dueAt - Date.now() > this.eventDelayMs) this.schedule(this.eventDelayMs);
  }
}
