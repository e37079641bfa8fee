/**
 * Server-sent events to every open dashboard: subscribe a response, publish events to all of them,
 * close them all. A comment line goes out every heartbeatMs so proxies that cut idle connections keep
 * the stream; a subscriber that stops reading is dropped once maxBufferedBytes wait unsent, so a stalled
 * browser tab cannot make the entrance hold events for it forever. A stream leaves the hub when its
 * connection closes, whoever closed it.
 */
import type { ServerResponse } from 'node:http';

export interface ServerEvent {
  event: string;
  data: unknown;
}

export interface EventHubOptions {
  /** [heartbeatMs=15000] How often a comment line is sent to every stream. */
  heartbeatMs?: number;
  /** [retryMs=3000] How long a browser waits before reconnecting a stream that broke. */
  retryMs?: number;
  /** [maxBufferedBytes=262144] Unsent bytes a stream may hold before it is dropped. */
  maxBufferedBytes?: number;
}

export interface EventHub {
  /** Answer `res` with an event stream (plus `headers`), starting with `first`. */
  subscribe(res: ServerResponse, opts?: { headers?: Record<string, string>; first?: readonly ServerEvent[] }): void;
  /** Send these events, as one write, to every stream. */
  publish(events: readonly ServerEvent[]): void;
  /** Streams open now. */
  readonly size: number;
  /** End every stream (the entrance is stopping). */
  close(): void;
}

/** The text/event-stream form of one event: its name, then its data as one line of JSON. */
export function formatEvent(e: ServerEvent): string {
  return `event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`;
}

export function createEventHub(opts: EventHubOptions = {}): EventHub {
  const heartbeatMs = opts.heartbeatMs ?? 15_000;
  const retryMs = opts.retryMs ?? 3_000;
  const maxBufferedBytes = opts.maxBufferedBytes ?? 256 * 1024;
  const streams = new Set<ServerResponse>();
  let heartbeat: NodeJS.Timeout | undefined;

  const send = (res: ServerResponse, text: string): void => {
    if (res.writableLength > maxBufferedBytes) return void res.destroy(); // its 'close' removes it
    res.write(text);
  };
  const beat = (): void => {
    for (const res of streams) send(res, ': keep-alive\n\n');
  };

  return {
    subscribe(res, { headers = {}, first = [] } = {}) {
      res.writeHead(200, { ...headers, 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      res.write(`retry: ${retryMs}\n${first.map(formatEvent).join('')}`);
      streams.add(res);
      heartbeat ??= setInterval(beat, heartbeatMs).unref();
      res.once('close', () => {
        streams.delete(res);
        if (streams.size === 0 && heartbeat) {
          clearInterval(heartbeat);
          heartbeat = undefined;
        }
      });
    },
    publish(events) {
      const text = events.map(formatEvent).join('');
      for (const res of streams) send(res, text);
    },
    get size() {
      return streams.size;
    },
    close() {
      for (const res of streams) res.end();
      streams.clear();
      if (heartbeat) clearInterval(heartbeat);
      heartbeat = undefined;
    },
  };
}
