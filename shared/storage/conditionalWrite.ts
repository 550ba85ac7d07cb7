/**
 * Read, change, write with the ETag: the one way this code base updates a row that others may
 * update too. `step` reads the current version, decides, and writes guarded by that version's
 * ETag; it answers CONFLICT when the write lost to another writer, and is then run again from a
 * fresh read, at most `attempts` times in all.
 */
import { hasStatus } from './clients';

export const CONFLICT = Symbol('conflict');
export type Conflict = typeof CONFLICT;

export async function retryOnConflict<R>(step: (attempt: number) => Promise<R | Conflict>, attempts = 5): Promise<R | Conflict> {
  for (let attempt = 1; ; attempt++) {
    const outcome = await step(attempt);
    if (outcome !== CONFLICT || attempt >= attempts) return outcome;
  }
}

/** What writeGuarded and deleteGuarded need of a table (a TableClient). */
interface GuardedTable {
  createEntity(entity: { partitionKey: string; rowKey: string }): Promise<{ etag?: string }>;
  updateEntity(entity: { partitionKey: string; rowKey: string }, mode: 'Replace', options: { etag: string }): Promise<{ etag?: string }>;
  deleteEntity(partitionKey: string, rowKey: string, options: { etag: string }): Promise<unknown>;
}

/**
 * Writes a whole row: a new one when `etag` is undefined (CONFLICT when it exists), else the row
 * if unchanged since `etag` (CONFLICT when it changed or is gone). Answers the new ETag.
 */
export async function writeGuarded<E extends { partitionKey: string; rowKey: string }>(
  table: GuardedTable,
  entity: E,
  etag: string | undefined,
): Promise<string | Conflict> {
  try {
    const res = etag ? await table.updateEntity(entity, 'Replace', { etag }) : await table.createEntity(entity);
    return res.etag!;
  } catch (err) {
    if (hasStatus(err, 409) || hasStatus(err, 412) || hasStatus(err, 404)) return CONFLICT;
    throw err;
  }
}

/** Deletes a row if unchanged since `etag`: true, false when it was gone, CONFLICT when it changed. */
export async function deleteGuarded(table: GuardedTable, partitionKey: string, rowKey: string, etag: string): Promise<boolean | Conflict> {
  try {
    await table.deleteEntity(partitionKey, rowKey, { etag });
    return true;
  } catch (err) {
    if (hasStatus(err, 404)) return false;
    if (hasStatus(err, 412)) return CONFLICT;
    throw err;
  }
}
