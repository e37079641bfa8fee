/**
 * What a rollout's health reads of this box (docs/updates.md, "Health"): SERVE-ERRORS, the responses with
 * status ≥ 500 its nginx served (the access-log tail counts them), AGENT-ERRORS, the errors the agent itself
 * hit, both since this agent process started, and AGENT-UPTIME, the seconds since then. The entrance compares
 * the rate of the updated agent with the old one's; counters per process make that rate the new version's
 * alone, since an update restarts the agent.
 */
import type { BoxExchange } from '../../../shared/src/protocol/index.js';

/**
 * The agent's own errors that are counted, each where it is already caught: a file the box failed to store
 * (ingest's E_INTERNAL), an EXCHANGE an entrance refused, a failed read pass of the access log, an update
 * that failed.
 */
export type AgentErrorKind = 'ingest' | 'exchange' | 'traffic' | 'update';

export type ErrorCountFields = Required<Pick<BoxExchange, 'SERVE-ERRORS' | 'AGENT-ERRORS' | 'AGENT-UPTIME'>>;

export class ErrorCounts {
  private agentErrors = 0;
  private readonly startedMs: number;

  /** `serverErrors`: the tail's count of status ≥ 500 lines; `nowMs`: a monotonic clock (tests pass their own). */
  constructor(private readonly serverErrors: () => number, private readonly nowMs: () => number = () => performance.now()) {
    this.startedMs = nowMs();
  }

  agentError(_kind: AgentErrorKind): void {
    this.agentErrors++;
  }

  /** The EXCHANGE's fields, as of now. */
  exchangeFields(): ErrorCountFields {
    return {
      'SERVE-ERRORS': this.serverErrors(),
      'AGENT-ERRORS': this.agentErrors,
      // To the millisecond: the entrance tells a restarted agent from the same one by the start time it implies.
      'AGENT-UPTIME': Math.max(0, Math.round(this.nowMs() - this.startedMs)) / 1000,
    };
  }
}
