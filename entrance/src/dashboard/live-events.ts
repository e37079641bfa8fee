/**
 * The dashboard's live events: while anyone listens, every EVENTS_INTERVAL_MS one computation of the
 * summary and of which boxes changed state or were paused or resumed, shared by all listeners through the
 * event hub.
 */
import type { ServerResponse } from 'node:http';
import type { Logger } from '../../../shared/src/log.js';
import { createEventHub } from './event-hub.js';
import type { ServerEvent } from './event-hub.js';
import type { Fleet } from './fleet.js';
import type { FleetSummary } from './summary.js';

const EVENTS_INTERVAL_MS = 2_000;

export interface LiveEventsDeps {
  fleet: Fleet;
  summary(): Promise<FleetSummary>;
  log: Logger;
}

export interface LiveEvents {
  /** Answer `res` with the stream, starting with the summary now. */
  subscribe(res: ServerResponse, headers: Record<string, string>): Promise<void>;
  stop(): void;
}

export function createLiveEvents(deps: LiveEventsDeps): LiveEvents {
  const hub = createEventHub();
  let timer: NodeJS.Timeout | undefined;
  let lastStates = new Map<string, string>();

  async function push(): Promise<void> {
    const [summary, states] = await Promise.all([deps.summary(), deps.fleet.liveMarks()]);
    const changed = [...states].filter(([id, s]) => lastStates.get(id) !== s).map(([id]) => id);
    for (const id of lastStates.keys()) if (!states.has(id)) changed.push(id);
    lastStates = states;
    const events: ServerEvent[] = [{ event: 'summary', data: summary }];
    if (changed.length > 0) events.push({ event: 'boxes', data: { CHANGED: changed } });
    hub.publish(events);
  }

  // One pass at a time, and none while nobody listens.
  function schedule(): void {
    if (timer || hub.size === 0) return;
    timer = setTimeout(() => {
      push()
        .catch((err: unknown) => deps.log.warn({ err }, 'dashboard events not computed'))
        .finally(() => {
          timer = undefined;
          schedule();
        });
    }, EVENTS_INTERVAL_MS);
  }

  return {
    async subscribe(res, headers) {
      const summary = await deps.summary();
      hub.subscribe(res, { headers, first: [{ event: 'summary', data: summary }] });
      schedule();
    },
    stop() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      hub.close();
    },
  };
}
