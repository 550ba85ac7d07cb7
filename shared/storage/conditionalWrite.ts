/**
 * Read, change, write with the ETag: the one way this code base updates a row that others may
 * update too. `step` reads the current version, decides, and writes guarded by that version's
 * ETag; it answers CONFLICT when the write lost to another writer, and is then run again from a
 * fresh read, at most `attempts` times in all.
 */
export const CONFLICT = Symbol('conflict');
export type Conflict = typeof CONFLICT;

export async function retryOnConflict<R>(step: (attempt: number) => Promise<R | Conflict>, attempts = 5): Promise<R | Conflict> {
  for (let attempt = 1; ; attempt++) {
    const outcome = await step(attempt);
    if (outcome !== CONFLICT || attempt >= attempts) return outcome;
  }
}
