/**
 * The root logger: pino, JSON lines on stdout, one event per line. Modules take a child with their
 * name bound (`log.child({ mod: 'sweep' })`). No transports: they run in worker threads, which the
 * agent's single-file binary cannot ship.
 */
import { pino } from 'pino';
import type { Logger } from 'pino';

export type { Logger };

export function createLogger(opts: { level: string; role: string; destination?: NodeJS.WritableStream }): Logger {
  return pino(
    {
      level: opts.level,
      base: { role: opts.role, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination ?? pino.destination({ fd: 1, sync: true }),
  );
}

/** A logger that writes nothing, for tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
