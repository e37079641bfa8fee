/**
 * The box's readings for EXCHANGEs. Several entrances share one sample per half period, so each
 * sample's CPU shares cover a whole interval; every new sample is handed on (the viewer budget uses
 * the upload counters) before it is returned.
 */
import type { Readings, ReadingsSource } from '../platform/readings.js';

export interface SamplerDeps {
  source: ReadingsSource;
  periodMs: number;
  /** A new sample, with the time its counters were read (ms); the caller handles its own errors. */
  onSample(readings: Readings, takenAt: number): Promise<void>;
  now?: () => number;
}

export class ReadingsSampler {
  private last: { at: number; readings: Readings } | undefined;
  private readonly now: () => number;

  constructor(private readonly deps: SamplerDeps) {
    this.now = deps.now ?? Date.now;
  }

  async sample(): Promise<Readings> {
    const now = this.now();
    if (this.last && now - this.last.at < this.deps.periodMs / 2) return this.last.readings;
    const readings = await this.deps.source.sample();
    // Counters are read at the end of the sample (which can take a while on a busy box): time them there.
    const takenAt = this.now();
    this.last = { at: now, readings };
    await this.deps.onSample(readings, takenAt);
    return readings;
  }
}
