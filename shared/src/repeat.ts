/**
 * A task run again `everyMs` after its previous run ended: never two runs at once, so a slow Redis never
 * piles runs up. A failed run goes to `onError` and the next one still runs.
 */
export interface Repeater {
  /** The first run `everyMs` from now. */
  start(): void;
  /** No run after the one in flight, if any. */
  stop(): void;
}

export function repeatAfterEach(run: () => Promise<void>, everyMs: number, onError: (err: unknown) => void): Repeater {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = (): void => {
    timer = setTimeout(() => {
      run()
        .catch(onError)
        .finally(() => {
          if (!stopped) schedule();
        });
    }, everyMs);
  };
  return {
    start: schedule,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
