/**
 * How many users and groups the directory holds (table `directorycounts`): counters that the
 * directory's own writes keep (directory.ts: create, delete, and a user's `active` changing), so
 * that reading them is one small partition query per kind however large the directory is.
 *
 * Why counters and not a count on read: Table Storage has no count, and a query returns at most
 * 1,000 entities a page (https://learn.microsoft.com/rest/api/storageservices/query-timeout-and-pagination),
 * so counting 100,000 users is 100 sequential pages even with `$select` of the keys only.
 * Measured on Azurite (in memory, this repository's test machine, 100,000 user rows): 27 to 59 s
 * per keys-only count; against Azure, at some tens of milliseconds a page, several seconds. No page
 * can wait for that, and a cache would only hide it on every other view.
 *
 * Rows: PK `users` / `groups`; RK `shard-<n>` (SHARDS of them) are the counters; RK `baseline`
 * says where counting started and what a full count (recount) added.
 * - A write adds its change to one shard: the process keeps to one shard and remembers its ETag,
 *   so a change is usually one guarded write; a lost race re-reads (and moves to another shard).
 *   Changes made while a write is in flight go together into the next one (batchedWriter). A
 *   change that cannot be stored (storage failing) is kept and added to the next one, never
 *   failing the directory write that caused it.
 * - The baseline: created as zero before a process's first write when the table of that kind is
 *   still empty (nothing was stored before counting began: the counters are complete). On a
 *   directory that was filled before counters existed, `complete` is false until `recount`.
 * - `recount` counts every row (keys-only queries) and sets the baseline so that shards plus
 *   baseline equal that count. It only does so when no shard changed while it counted (each shard
 *   counts its `changes`); otherwise it tries again, and reports failure after three tries. A
 *   process dying between a row's write and its counter's leaves the counts one off until the
 *   next recount; so does a change whose counter lands after a recount read the shards.
 */
import { randomInt } from 'node:crypto';
import { odata, type TableClient } from '@azure/data-tables';
import { batchedWriter } from '../concurrency';
import { once, unlessStatus } from './clients';
import { CONFLICT, retryOnConflict } from './conditionalWrite';
import type { DirectorySource } from './directory';

export const DIRECTORY_COUNTS_TABLE = 'directorycounts';
const SHARDS = 8;
const BASELINE = 'baseline';

export type CountedKind = 'users' | 'groups';

/** Counts of one kind: all rows, the active ones (users), and by source. */
export interface Tally {
  total: number;
  active: number;
  scim: number;
  sync: number;
}

export interface DirectoryTally {
  users: Tally;
  groups: Tally;
  /** False when rows were stored before counting began and no recount has included them yet. */
  complete: boolean;
  /** When a recount last set the counts (undefined: never). */
  recountedAt?: Date;
}

/** What the counts read from the directory's tables: whether a kind has any row, and every row's facts. */
export interface CountSource {
  any(kind: CountedKind): Promise<boolean>;
  scan(kind: CountedKind): AsyncIterable<{ active: boolean; source: DirectorySource }>;
}

const zero = (): Tally => ({ total: 0, active: 0, scim: 0, sync: 0 });
const FIELDS = ['total', 'active', 'scim', 'sync'] as const;
const add = (a: Tally, b: Tally): Tally => ({
  total: a.total + b.total,
  active: a.active + b.active,
  scim: a.scim + b.scim,
  sync: a.sync + b.sync,
});
const isZero = (t: Tally) => FIELDS.every((f) => t[f] === 0);
const tallyOfRow = (e: Record<string, unknown>): Tally => ({
  total: Number(e.total ?? 0),
  active: Number(e.active ?? 0),
  scim: Number(e.scim ?? 0),
  sync: Number(e.sync ?? 0),
});

/** The change to the counts of a row being added (+1) or removed (-1). */
export function rowTally(row: { active?: boolean; source: DirectorySource }, sign: 1 | -1): Tally {
  return {
    total: sign,
    active: row.active === true ? sign : 0,
    scim: row.source === 'scim' ? sign : 0,
    sync: row.source === 'sync' ? sign : 0,
  };
}

interface KindRows {
  shards: Tally;
  changes: number;
  baseline?: { tally: Tally; complete: boolean; recountedAt?: Date; etag: string };
}

export class DirectoryCounts {
  private readonly ready: () => Promise<void>;
  private readonly writers: Record<CountedKind, (t: Tally) => Promise<void>>;
  private readonly prepared: Record<CountedKind, () => Promise<void>>;
  private readonly shard: Record<CountedKind, number>;
  private readonly known: Partial<Record<CountedKind, { shard: number; etag: string; tally: Tally; changes: number }>> = {};
  /** Changes that could not be stored yet, added to the next write. */
  private readonly carried: Record<CountedKind, Tally> = { users: zero(), groups: zero() };
  private source?: CountSource;

  constructor(
    private readonly table: TableClient,
    private readonly shards = SHARDS,
  ) {
    this.ready = once(() => table.createTable());
    this.shard = { users: randomInt(shards), groups: randomInt(shards) };
    this.writers = {
      users: batchedWriter((changes) => this.store('users', changes)),
      groups: batchedWriter((changes) => this.store('groups', changes)),
    };
    this.prepared = { users: once(() => this.prepare('users')), groups: once(() => this.prepare('groups')) };
  }

  /** The directory's tables, for the baseline's emptiness check and for recounts (set by createDirectory). */
  attach(source: CountSource): void {
    this.source = source;
  }

  /** Before a process's first write of a kind: a baseline, if nothing is stored yet (a failure is tried again next time). */
  beforeWrite(kind: CountedKind): Promise<void> {
    return this.prepared[kind]().catch(() => undefined);
  }

  /** Adds a change; resolves once it is stored, or kept for the next write when storing failed (never rejects). */
  change(kind: CountedKind, tally: Tally): Promise<void> {
    if (isZero(tally)) return Promise.resolve();
    return this.writers[kind](tally).catch(() => undefined);
  }

  /** The counts: this process's unsaved changes first, then shards plus baseline of each kind. */
  async read(): Promise<DirectoryTally> {
    const carried = (['users', 'groups'] as const).filter((k) => !isZero(this.carried[k]));
    await Promise.all(carried.map((k) => this.writers[k](zero()).catch(() => undefined)));
    const [users, groups] = await Promise.all([this.rows('users'), this.rows('groups')]);
    const total = (k: KindRows) => add(k.shards, k.baseline?.tally ?? zero());
    const recounted = [users.baseline?.recountedAt, groups.baseline?.recountedAt].filter((d): d is Date => d !== undefined);
    return {
      users: total(users),
      groups: total(groups),
      complete: users.baseline?.complete === true && groups.baseline?.complete === true,
      ...(recounted.length === 2 ? { recountedAt: recounted.sort((a, b) => a.getTime() - b.getTime())[0] } : {}),
    };
  }

  /**
   * Counts every row and sets the baseline of each kind from it; false for a kind whose counters
   * kept changing while it was counted (three tries).
   */
  async recount(now = new Date()): Promise<Record<CountedKind, boolean>> {
    const out = { users: false, groups: false };
    for (const kind of ['users', 'groups'] as const) {
      for (let attempt = 0; attempt < 3 && !out[kind]; attempt++) out[kind] = await this.recountKind(kind, now);
    }
    return out;
  }

  private async recountKind(kind: CountedKind, now: Date): Promise<boolean> {
    const before = await this.rows(kind);
    let counted = zero();
    for await (const row of this.requireSource().scan(kind)) counted = add(counted, rowTally(row, 1));
    const after = await this.rows(kind);
    if (after.changes !== before.changes) return false;
    const baseline: Tally = { total: 0, active: 0, scim: 0, sync: 0 };
    for (const f of FIELDS) baseline[f] = counted[f] - after.shards[f];
    const entity = { partitionKey: kind, rowKey: BASELINE, ...baseline, complete: true, recountedAt: now };
    const written = after.baseline
      ? await unlessStatus(this.table.updateEntity(entity, 'Replace', { etag: after.baseline.etag }), 412, 404)
      : await unlessStatus(this.table.createEntity(entity), 409);
    return written !== undefined;
  }

  private requireSource(): CountSource {
    if (!this.source) throw new Error('DirectoryCounts: no directory attached');
    return this.source;
  }

  private async prepare(kind: CountedKind): Promise<void> {
    await this.ready();
    if (await unlessStatus(this.table.getEntity(kind, BASELINE), 404)) return;
    if (await this.requireSource().any(kind)) return; // filled before counting began: a recount completes it
    await unlessStatus(this.table.createEntity({ partitionKey: kind, rowKey: BASELINE, ...zero(), complete: true }), 409);
  }

  private async rows(kind: CountedKind): Promise<KindRows> {
    await this.ready();
    const out: KindRows = { shards: zero(), changes: 0 };
    for await (const e of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter: odata`PartitionKey eq ${kind}` } })) {
      if (e.rowKey === BASELINE) {
        out.baseline = {
          tally: tallyOfRow(e),
          complete: e.complete === true,
          ...(e.recountedAt ? { recountedAt: new Date(e.recountedAt as string) } : {}),
          etag: e.etag,
        };
      } else {
        out.shards = add(out.shards, tallyOfRow(e));
        out.changes += Number(e.changes ?? 0);
      }
    }
    return out;
  }

  /** One guarded write of the sum of `changes` (and what was carried) to this process's shard. */
  private async store(kind: CountedKind, changes: Tally[]): Promise<void> {
    const delta = changes.reduce(add, this.carried[kind]);
    this.carried[kind] = zero();
    if (isZero(delta)) return;
    try {
      await this.ready();
      const outcome = await retryOnConflict(async (attempt) => {
        if (attempt > 2) this.shard[kind] = randomInt(this.shards);
        const shard = this.shard[kind];
        const rk = `shard-${shard}`;
        let known = this.known[kind]?.shard === shard ? this.known[kind] : undefined;
        if (!known) {
          const row = await unlessStatus(this.table.getEntity<Record<string, unknown>>(kind, rk), 404);
          if (row) known = { shard, etag: row.etag, tally: tallyOfRow(row), changes: Number(row.changes ?? 0) };
        }
        // `changes` only ever grows: a recount that sees it move knows the counts moved while it counted.
        const next = { tally: add(known?.tally ?? zero(), delta), changes: (known?.changes ?? 0) + 1 };
        const entity = { partitionKey: kind, rowKey: rk, ...next.tally, changes: next.changes };
        const written = known
          ? await unlessStatus(this.table.updateEntity(entity, 'Replace', { etag: known.etag }), 412, 404)
          : await unlessStatus(this.table.createEntity(entity), 409);
        if (!written) {
          delete this.known[kind];
          return CONFLICT;
        }
        this.known[kind] = { shard, etag: written.etag!, ...next };
        return true;
      }, 8);
      if (outcome === CONFLICT) throw new Error('lost every race');
    } catch (err) {
      delete this.known[kind];
      this.carried[kind] = add(this.carried[kind], delta);
      throw err;
    }
  }
}
