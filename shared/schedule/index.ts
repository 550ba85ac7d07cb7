/**
 * NCRONTAB schedules (`sec min hour day month weekday`, in local time as the Functions host and
 * Core Tools read them): a matcher for the local host's timer runner, and the next time a schedule
 * fires (the token refresh timer looks that far ahead).
 */

interface Fields {
  seconds: Set<number>;
  minutes: Set<number>;
  hours: Set<number>;
  days: Set<number>;
  months: Set<number>;
  weekdays: Set<number>;
}

function parseFields(expression: string): Fields {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 6) throw new Error(`Schedule '${expression}' must have 6 fields (sec min hour day month weekday).`);
  const ranges: Array<[number, number]> = [
    [0, 59],
    [0, 59],
    [0, 23],
    [1, 31],
    [1, 12],
    [0, 6],
  ];
  const [seconds, minutes, hours, days, months, weekdays] = fields.map((f, i) =>
    parseField(numberNames(f, i), ranges[i]![0], ranges[i]![1], expression),
  );
  return { seconds: seconds!, minutes: minutes!, hours: hours!, days: days!, months: months!, weekdays: weekdays! };
}

/** Parses a 6-field NCRONTAB expression into a matcher. */
export function parseSchedule(expression: string): (d: Date) => boolean {
  const f = parseFields(expression);
  return (d) =>
    f.seconds.has(d.getSeconds()) &&
    f.minutes.has(d.getMinutes()) &&
    f.hours.has(d.getHours()) &&
    f.days.has(d.getDate()) &&
    f.months.has(d.getMonth() + 1) &&
    f.weekdays.has(d.getDay());
}

/**
 * The first whole second after `after` at which the schedule fires; undefined when it does not fire
 * within five years (a 31st of February). Skips whole months, days, hours and minutes that cannot
 * match, so it takes a few hundred steps at most for any schedule.
 */
export function nextOccurrence(expression: string, after: Date): Date | undefined {
  const f = parseFields(expression);
  let t = new Date(Math.floor(after.getTime() / 1000) * 1000 + 1000);
  const end = after.getTime() + 5 * 366 * 86_400_000;
  while (t.getTime() <= end) {
    const [y, mo, d, mi, s] = [t.getFullYear(), t.getMonth(), t.getDate(), t.getMinutes(), t.getSeconds()];
    let next: Date;
    if (!f.months.has(mo + 1)) next = new Date(y, mo + 1, 1);
    else if (!f.days.has(d) || !f.weekdays.has(t.getDay())) next = new Date(y, mo, d + 1);
    // Hours and minutes step in elapsed time, so an hour repeated when clocks go back is not re-entered.
    else if (!f.hours.has(t.getHours())) next = new Date(t.getTime() + (60 - mi) * 60_000 - s * 1000);
    else if (!f.minutes.has(mi)) next = new Date(t.getTime() + 60_000 - s * 1000);
    else if (!f.seconds.has(s)) next = new Date(t.getTime() + 1000);
    else return t;
    t = next.getTime() > t.getTime() ? next : new Date(t.getTime() + 1000);
  }
  return undefined;
}

const MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];
const WEEKDAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];

/** NCRONTAB also takes month and weekday names (`0 30 9 * Jan Mon`): turns them into numbers. */
function numberNames(field: string, index: number): string {
  const names = index === 4 ? MONTHS : index === 5 ? WEEKDAYS : undefined;
  if (!names) return field;
  return field.replace(/[a-z]+/gi, (word) => {
    const w = word.toLowerCase();
    const i = names.findIndex((n) => n === w || (w.length === 3 && n.startsWith(w)));
    return i < 0 ? word : String(index === 4 ? i + 1 : i);
  });
}

function parseField(field: string, min: number, max: number, expression: string): Set<number> {
  const out = new Set<number>();
  for (const part of field.split(',')) {
    const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!m) throw new Error(`Schedule '${expression}': cannot read '${part}'.`);
    const from = m[1] === '*' ? min : Number(m[2]);
    const to = m[1] === '*' ? max : m[3] !== undefined ? Number(m[3]) : m[4] ? max : from;
    const step = m[4] ? Number(m[4]) : 1;
    if (from < min || to > max || from > to || step < 1) throw new Error(`Schedule '${expression}': '${part}' is out of range.`);
    for (let v = from; v <= to; v += step) out.add(v);
  }
  return out;
}
