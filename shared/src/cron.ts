/**
 * Cron schedules in node-cron's syntax (seconds first and optional; `*`, lists, ranges, steps, month and
 * weekday names, `?`, 7 for Sunday, @daily and the other nicknames; day of month AND day of week must
 * both match, as node-cron does) in the machine's local time, without node-cron: its scheduler formats
 * every tick through Intl.DateTimeFormat, which maps ICU's time-zone data into the box agent, about
 * 15 MiB of a Pi's memory for a sweep every ten seconds. node-cron's own extensions (L, W, #) are
 * refused by the config check rather than run differently.
 */

/** One field's allowed values: sets[field][value] is true when the value matches. */
export interface CronSchedule {
  readonly expression: string;
  readonly sets: readonly (readonly boolean[])[];
}

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
}

const FIELDS: readonly FieldSpec[] = [
  { name: 'second', min: 0, max: 59 },
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] },
  { name: 'day of week', min: 0, max: 7, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] },
];

const NICKNAMES: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *', '@annually': '0 0 1 1 *', '@monthly': '0 0 1 * *', '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *', '@midnight': '0 0 * * *', '@hourly': '0 * * * *',
};

const FULL_NAMES = ['january', 'february', 'march', 'april', 'june', 'july', 'august', 'september', 'october', 'november', 'december', 'sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];

/** A number or a (three-letter or full) name of the field; undefined when neither. */
function valueOf(text: string, field: FieldSpec): number | undefined {
  if (/^\d+$/.test(text)) return Number(text);
  const lower = text.toLowerCase();
  const short = FULL_NAMES.includes(lower) ? lower.slice(0, 3) : lower;
  const index = field.names?.indexOf(short) ?? -1;
  if (index < 0) return undefined;
  return field.min === 1 ? index + 1 : index;
}

/** Marks one comma-separated token's values; returns an error sentence or undefined. */
function markToken(token: string, field: FieldSpec, set: boolean[]): string | undefined {
  const m = /^(\*|\?|[a-z0-9]+)(?:-([a-z0-9]+))?(?:\/(\d+))?$/i.exec(token);
  if (!m) return `${field.name}: "${token}" is not a value, range or step`;
  const [, from = '', to, stepText] = m;
  const step = stepText === undefined ? 1 : Number(stepText);
  if (step < 1) return `${field.name}: step must be at least 1`;
  const wild = from === '*' || from === '?';
  if (from === '?' && field.name !== 'day of month' && field.name !== 'day of week') return `${field.name}: "?" only stands for a day`;
  if (wild && to !== undefined) return `${field.name}: "${token}" is not a range`;
  const first = wild ? field.min : valueOf(from, field);
  const last = wild ? field.max : to === undefined ? first : valueOf(to, field);
  if (first === undefined || last === undefined) return `${field.name}: "${token}" is not a number${field.names ? ' or a name' : ''}`;
  for (const v of [first, last]) if (v < field.min || v > field.max) return `${field.name}: ${v} is outside ${field.min}-${field.max}`;
  // A range may wrap (22-2 for hours), as node-cron's do.
  const size = field.max - field.min + 1;
  const span = (((last - first) % size) + size) % size;
  for (let offset = 0; offset <= span; offset += step) set[field.min + ((first - field.min + offset) % size)] = true;
  return undefined;
}

/** The schedule, or an error sentence saying which field is wrong. */
export function parseCron(expression: string): CronSchedule | string {
  const expanded = NICKNAMES[expression.trim().toLowerCase()] ?? expression;
  const parts = expanded.trim().split(/\s+/);
  if (parts.length === 5) parts.unshift('0');
  if (parts.length !== 6) return `has ${parts.length} fields; a schedule has 5, or 6 with seconds first`;
  const sets: boolean[][] = [];
  for (const [i, field] of FIELDS.entries()) {
    const set = new Array<boolean>(field.max + 1).fill(false);
    for (const token of (parts[i] as string).split(',')) {
      const error = markToken(token, field, set);
      if (error) return error;
    }
    sets.push(set);
  }
  const weekdays = sets[5] as boolean[];
  if (weekdays[7]) weekdays[0] = true; // 7 is Sunday too
  return { expression, sets };
}

/** The schedule of a config key the loader already checked; a bad one here is a programming error. */
export function cronOrThrow(key: string, expression: string): CronSchedule {
  const parsed = parseCron(expression);
  if (typeof parsed === 'string') throw new Error(`${key}: "${expression}" ${parsed}`);
  return parsed;
}

/** Local time's fields that do not match, coarsest first, each with the move to its next candidate. */
function advance(d: Date, sets: CronSchedule['sets']): boolean {
  const [seconds, minutes, hours, days, months, weekdays] = sets as [boolean[], boolean[], boolean[], boolean[], boolean[], boolean[]];
  if (!months[d.getMonth() + 1]) {
    d.setMonth(d.getMonth() + 1, 1);
    d.setHours(0, 0, 0, 0);
  } else if (!days[d.getDate()] || !weekdays[d.getDay()]) {
    d.setDate(d.getDate() + 1);
    d.setHours(0, 0, 0, 0);
  } else if (!hours[d.getHours()]) {
    d.setHours(d.getHours() + 1, 0, 0, 0);
  } else if (!minutes[d.getMinutes()]) {
    d.setMinutes(d.getMinutes() + 1, 0, 0);
  } else if (!seconds[d.getSeconds()]) {
    d.setSeconds(d.getSeconds() + 1, 0);
  } else {
    return false;
  }
  return true;
}

/** Enough steps to cross several years of days; a schedule that never matches (30 February) gives up. */
const MAX_STEPS = 20_000;

/** The first whole second after `after` the schedule matches, or undefined if it never does. */
export function nextRun(schedule: CronSchedule, after: Date): Date | undefined {
  const d = new Date(Math.floor(after.getTime() / 1000) * 1000 + 1000);
  for (let i = 0; i < MAX_STEPS; i++) if (!advance(d, schedule.sets)) return d;
  return undefined;
}

export interface CronTask {
  /** No further runs; a run in progress is not awaited. */
  stop(): void;
}

/** Longest setTimeout Node takes (about 24.8 days); a later run re-arms on the way. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Runs `run` at each time the schedule matches. A run still in progress makes the next one skip (as
 * node-cron's noOverlap). The timer does not keep the process alive.
 */
export function scheduleCron(schedule: CronSchedule, run: () => unknown, now: () => number = Date.now): CronTask {
  let timer: NodeJS.Timeout | undefined;
  let busy = false;
  let stopped = false;
  // The second last run for: a timer that fires a little early must not run that second twice.
  let last = 0;
  const arm = (): void => {
    if (stopped) return;
    const at = nextRun(schedule, new Date(Math.max(now(), last)));
    if (!at) return;
    const wait = at.getTime() - now();
    timer = setTimeout(() => (wait > MAX_TIMER_MS ? arm() : fire(at.getTime())), Math.min(Math.max(0, wait), MAX_TIMER_MS));
    timer.unref();
  };
  const fire = (at: number): void => {
    last = at;
    if (!busy) {
      busy = true;
      // Callers log their own failures (the sweep, the capacity test); a rejection must not escape here.
      void Promise.resolve().then(run).catch(() => undefined).finally(() => (busy = false));
    }
    arm();
  };
  arm();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
