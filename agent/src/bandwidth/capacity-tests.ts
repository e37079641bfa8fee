/**
 * When the box measures its capacity against an entrance: on the BANDWIDTH_TEST_CRON schedule, shortly
 * after start (once a heartbeat had time to find a live entrance), and when asked (the public address
 * changed). One test at a time; an entrance that answers "busy" is asked again after its Retry-After,
 * with jitter, a few times. Never when BANDWIDTH_UP fixes the figures in config.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { cronOrThrow, scheduleCron } from '../../../shared/src/cron.js';
import type { CronTask } from '../../../shared/src/cron.js';
import type { Logger } from '../../../shared/src/log.js';
import { messageOf } from '../../../shared/src/protocol/errors.js';
import type { KnownCapacity } from './budget.js';
import { roundMbit } from './policy.js';
import { SpeedTestError, measureCapacity } from './speed-test.js';

/** Capacity tests tried when the entrance answers "busy" before giving up until the next schedule. */
const CAPACITY_TEST_ATTEMPTS = 5;
/** The first test waits at most this long after start. */
const FIRST_TEST_DELAY_MS = 2_000;

export interface CapacityTestsDeps {
  /** BANDWIDTH_UP > 0: the figures are in config and never measured. */
  fixed: boolean;
  /** BANDWIDTH_TEST_CRON ('' for never on a schedule). */
  schedule: string;
  /** Bytes moved each way (BANDWIDTH_TEST_MB). */
  bytes: number;
  /** BANDWIDTH_DOWN when set (> 0): it wins over the measured download. */
  fixedDownMbit: number;
  /** The heartbeat period; the first test waits for the shorter of it and FIRST_TEST_DELAY_MS. */
  periodMs: number;
  /** The entrance to test against (its WebSocket URL), or undefined when there is none yet. */
  entrance(): string | undefined;
  /** Headers signing a request to `url` like an upgrade, so an enrolled box gets the entrance's reserved slots. */
  authHeaders(url: string): Promise<Record<string, string> | undefined>;
  /** Bytes the box's interface towards the entrance has sent so far, when it is not a loopback one. */
  sentBytes?(): Promise<number | undefined>;
  onMeasured(capacity: KnownCapacity): void;
  log: Logger;
}

export class CapacityTests {
  private readonly stopping = new AbortController();
  private task: CronTask | undefined;
  private firstTest: NodeJS.Timeout | undefined;
  private measuring: Promise<void> | undefined;

  constructor(private readonly deps: CapacityTestsDeps) {}

  start(): void {
    if (this.deps.schedule !== '') {
      this.task = scheduleCron(cronOrThrow('BANDWIDTH_TEST_CRON', this.deps.schedule), () => this.measureNow());
    }
    this.firstTest = setTimeout(() => void this.measureNow(), Math.min(this.deps.periodMs, FIRST_TEST_DELAY_MS)).unref();
  }

  /** Measure now, or join the test already running; failures are logged and keep the previous figures. */
  measureNow(): Promise<void> {
    if (this.deps.fixed) return Promise.resolve();
    this.measuring ??= this.measure().finally(() => {
      this.measuring = undefined;
    });
    return this.measuring;
  }

  /** Abort a test in flight and stop scheduling. */
  async stop(): Promise<void> {
    this.stopping.abort();
    clearTimeout(this.firstTest);
    this.task?.stop();
    await this.measuring;
  }

  private async measure(): Promise<void> {
    const url = this.deps.entrance();
    if (!url) return;
    const signal = this.stopping.signal;
    const authHeaders = (): Promise<Record<string, string> | undefined> => this.deps.authHeaders(url);
    for (let attempt = 1; ; attempt++) {
      try {
        const sentBytes = this.deps.sentBytes?.bind(this.deps);
        const c = await measureCapacity(url, { bytes: this.deps.bytes, signal, authHeaders, ...(sentBytes ? { sentBytes } : {}) });
        this.deps.onMeasured({ upMbit: c.upMbit, downMbit: this.deps.fixedDownMbit > 0 ? this.deps.fixedDownMbit : c.downMbit });
        this.deps.log.info({ upMbit: roundMbit(c.upMbit), downMbit: roundMbit(c.downMbit), entrance: url }, 'capacity measured');
        return;
      } catch (err) {
        if (signal.aborted) return;
        // An entrance runs few tests at once (boxes behind one address queue up): retry when it says busy.
        const busy = err instanceof SpeedTestError && err.code === 'E_BUSY' ? err : undefined;
        if (!busy || attempt >= CAPACITY_TEST_ATTEMPTS) {
          this.deps.log.warn({ err: messageOf(err) }, 'capacity test failed; keeping the previous figures');
          return;
        }
        const waitMs = Math.min(busy.retryAfterMs ?? 5_000, 60_000) * (0.5 + Math.random());
        this.deps.log.info({ waitMs: Math.round(waitMs) }, 'entrance busy with other capacity tests; retrying');
        await sleep(waitMs, undefined, { signal }).catch(() => undefined);
      }
    }
  }
}
