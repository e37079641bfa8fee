/**
 * Signals and ordered shutdown. SIGTERM or SIGINT runs `stop` once; a second signal, or `stop` not
 * finishing within the grace period, exits 1 so systemd or the operator is never left waiting.
 */
import type { Logger } from './log.js';

export function trapSignals(stop: () => Promise<void>, log: Logger, graceMs = 5_000): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal; exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    setTimeout(() => {
      log.error({ graceMs }, 'shutdown took too long; exiting');
      process.exit(1);
    }, graceMs).unref();
    stop().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'unclean stop');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
