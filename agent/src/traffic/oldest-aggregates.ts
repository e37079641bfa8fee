/**
 * The `limit` oldest pending aggregates out of an HSCAN of TRAFFIC_PENDING, holding at most 2 × limit at a
 * time. While an entrance is away, or the tail catches up a long log, TRAFFIC_PENDING grows with the
 * backlog (a million log lines left 200,000 entries, bench agent-memory); remembering every field seen to
 * drop HSCAN's repeats made each EXCHANGE hold all of them and set the agent's peak RSS. Keyed by ID
 * instead: a repeat replaces itself, and one trimmed away is trimmed again, because the order is total.
 */
import type { TrafficAggregate } from '../../../shared/src/protocol/messages.js';

export class OldestAggregates {
  private held = new Map<string, TrafficAggregate>();
  /** The latest kept at the last trim: anything as late or later can never be among the `limit` oldest. */
  private cutoff: TrafficAggregate | undefined;

  constructor(private readonly limit: number) {}

  /** Aggregates held now; never more than 2 × limit. */
  get size(): number {
    return this.held.size;
  }

  offer(aggregate: TrafficAggregate): void {
    this.held.set(aggregate.ID, aggregate);
    if (this.held.size <= 2 * this.limit) return;
    const oldest = this.oldest();
    this.held = new Map(oldest.map((a) => [a.ID, a]));
    this.cutoff = oldest[oldest.length - 1];
  }

  /**
   * False when an aggregate from `from` under `id` could not be among the `limit` oldest: the caller may
   * then skip decoding it (most of a long backlog, on every EXCHANGE).
   */
  couldKeep(from: number, id: string): boolean {
    return this.cutoff === undefined || compare(from, id, this.cutoff) < 0;
  }

  /** The `limit` oldest offered, oldest first (by FROM, then ID). */
  oldest(): TrafficAggregate[] {
    return oldestFirst([...this.held.values()]).slice(0, this.limit);
  }
}

function oldestFirst(list: TrafficAggregate[]): TrafficAggregate[] {
  return list.sort((a, b) => compare(a.FROM, a.ID, b));
}

function compare(from: number, id: string, b: TrafficAggregate): number {
  return from - b.FROM || (id < b.ID ? -1 : id > b.ID ? 1 : 0);
}
