/** NCRONTAB: the next time a schedule fires agrees with the matcher the local host's timers use. */
import { nextOccurrence, parseSchedule } from '../../shared/schedule';

/** The next match by trying every second: slow, obviously right. */
function bruteForce(expression: string, after: Date, limitSeconds: number): Date | undefined {
  const matches = parseSchedule(expression);
  const start = Math.floor(after.getTime() / 1000) + 1;
  for (let s = start; s < start + limitSeconds; s++) if (matches(new Date(s * 1000))) return new Date(s * 1000);
  return undefined;
}

describe('nextOccurrence', () => {
  const from = new Date(2026, 10, 23, 10, 17, 42, 500); // a Monday, local time

  it.each([
    ['0 0 * * * *', new Date(2026, 10, 23, 11, 0, 0)],
    ['0 */15 * * * *', new Date(2026, 10, 23, 10, 30, 0)],
    ['*/10 * * * * *', new Date(2026, 10, 23, 10, 17, 50)],
    ['0 30 9 * * Mon-Fri', new Date(2026, 10, 24, 9, 30, 0)],
    ['0 0 7,18 1,15 * *', new Date(2026, 11, 1, 7, 0, 0)],
    ['0 0 0 1 Jan *', new Date(2027, 0, 1, 0, 0, 0)],
  ])('%s fires next at the right second', (expression, expected) => {
    expect(nextOccurrence(expression, from)).toEqual(expected);
  });

  it.each(['0 0 * * * *', '0 */15 * * * *', '15,45 * 10-11 * * *', '0 0 9-17 * * 1-5', '0 0 0 * * Sun'])(
    '%s agrees with the matcher',
    (expression) => {
      for (const start of [from, new Date(2026, 10, 23, 10, 59, 59), new Date(2026, 10, 28, 23, 59, 59)]) {
        expect(nextOccurrence(expression, start)).toEqual(bruteForce(expression, start, 8 * 86_400));
      }
    },
  );

  it('is strictly after the given time, even on a firing second', () => {
    expect(nextOccurrence('0 0 * * * *', new Date(2026, 10, 23, 11, 0, 0))).toEqual(new Date(2026, 10, 23, 12, 0, 0));
  });

  it('says undefined for a schedule that never fires', () => {
    expect(nextOccurrence('0 0 0 30 Feb *', from)).toBeUndefined();
  });
});
