/**
 * Signals and ordered shutdown. SIGTERM or SIGINT runs `stop` once; a second signal, or `stop` not
 * finishing within the grace period, exits 1 so systemd or the operator is never left waiting.
 */
import type { Logger } from './log.js';

export function trapSignals(stop: () => Promise<void>, log: Logger, graceMs = 5_000): (exitCode: number, why: string) => void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals | string, exitCode = 0): void => {
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
        process.exit(exitCode);
      },
      (err: unknown) => {
        log.error({ err }, 'unclean stop');
        process.exit(1);
      },
    );
  };
  // Wrapped: Node passes the signal's number as a second argument, which is not an exit code.
  process.on('SIGTERM', (signal) => onSignal(signal));
  process.on('SIGINT', (signal) => onSignal(signal));
  // The same clean stop, asked for by the process itself (the agent after staging an update: exit 75).
  return (exitCode, why) => onSignal(why, exitCode);
}
