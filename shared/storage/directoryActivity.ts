/**
 * What happened while the directory was being filled (table `directoryactivity`), for the
 * console's Directory page: the last SCIM request, the last SCIM errors, the last directory sync
 * runs. Three rows, each read-modify-written with its ETag (retryOnConflict):
 *
 * - PK `scim` RK `lastRequest`: time, method, resource kind, path, status. Never moves backwards: a
 *   write older than the stored one is dropped.
 * - PK `scim` RK `errors`: the last SCIM_ERRORS_KEPT errors, newest first; a run of identical
 *   errors (a flood of 401s) is one entry with a count.
 * - PK `sync` RK `runs`: the last SYNC_RUNS_KEPT runs, newest first, each written when it starts
 *   and again when it ends.
 *
 * Nothing here holds a token, a secret or a request body: the callers pass what an administrator
 * may see (shared/scim/activity.ts, shared/directorySync).
 */
import type { TableClient } from '@azure/data-tables';
import { packText, unpackText } from './chunks';
import { once, unlessStatus } from './clients';
import { CONFLICT, retryOnConflict } from './conditionalWrite';

export const DIRECTORY_ACTIVITY_TABLE = 'directoryactivity';
export const SCIM_ERRORS_KEPT = 50;
export const SYNC_RUNS_KEPT = 20;

/** A SCIM request as the Directory page shows it. */
export interface ScimRequestRecord {
  at: Date;
  method: string;
  /** `Users`, `Groups`, `ServiceProviderConfig`, `Schemas`, `ResourceTypes` or `other`. */
  resource: string;
  /** The path below /scim/v2, with only the query parameters that hold no secret (shared/scim/activity.ts safePath). */
  path: string;
  status: number;
}

/** A SCIM request ScanRelay answered with an error, as it answered it. */
export interface ScimErrorRecord {
  /** When it first happened (of a run of identical ones). */
  at: Date;
  /** When it last happened; `count` times in all. */
  lastAt: Date;
  count: number;
  method: string;
  /** The path below /scim/v2, with only the query parameters that hold no secret. */
  path: string;
  status: number;
  scimType?: string;
  /** The `detail` ScanRelay answered. */
  detail: string;
}

export type SyncRunStatus = 'running' | 'completed' | 'interrupted' | 'failed';

/** One directory sync run. */
export interface SyncRunRecord {
  id: string;
  startedAt: Date;
  finishedAt?: Date;
  status: SyncRunStatus;
  /** What the run did (shared/directorySync DirectorySyncCounts), as far as it got. */
  counts?: unknown;
  /** Why it failed: a DirectorySyncError's code (or `internal`) and its message. */
  error?: { code: string; message: string };
  /** Why it stopped early (interrupted): Graph asked to wait longer than a run waits. */
  reason?: string;
  retryAfterSeconds?: number;
}

type Row = Record<string, unknown> & { etag: string };

const SCIM = 'scim';
const SYNC = 'sync';

export class DirectoryActivityRepository {
  private readonly ready: () => Promise<void>;

  constructor(private readonly table: TableClient) {
    this.ready = once(() => table.createTable());
  }

  async lastScimRequest(): Promise<ScimRequestRecord | undefined> {
    const row = await this.row(SCIM, 'lastRequest');
    return (
      row && {
        at: new Date(row.at as string),
        method: row.method as string,
        resource: row.resource as string,
        path: typeof row.path === 'string' ? row.path : '',
        status: row.status as number,
      }
    );
  }

  /** Stores `request` as the last one, unless a later one is stored already. */
  async noteScimRequest(request: ScimRequestRecord): Promise<void> {
    await this.readModifyWrite(SCIM, 'lastRequest', (row) => {
      if (row && new Date(row.at as string) >= request.at) return undefined;
      return { at: request.at, method: request.method, resource: request.resource, path: request.path, status: request.status };
    });
  }

  /** The errors kept, newest first. */
  async scimErrors(): Promise<ScimErrorRecord[]> {
    const row = await this.row(SCIM, 'errors');
    return row ? reviveErrors(row) : [];
  }

  /** Adds errors (in the order they happened); the oldest beyond SCIM_ERRORS_KEPT are dropped. */
  async addScimErrors(errors: readonly ScimErrorRecord[]): Promise<void> {
    await this.readModifyWrite(SCIM, 'errors', (row) => {
      const kept = row ? reviveErrors(row) : [];
      for (const e of errors) {
        const newest = kept[0];
        if (newest && sameError(newest, e)) {
          kept[0] = { ...newest, lastAt: e.lastAt > newest.lastAt ? e.lastAt : newest.lastAt, count: newest.count + e.count };
        } else {
          kept.unshift(e);
        }
      }
      return packText('errors', JSON.stringify(kept.slice(0, SCIM_ERRORS_KEPT)));
    });
  }

  /** The runs kept, newest first. */
  async syncRuns(): Promise<SyncRunRecord[]> {
    const row = await this.row(SYNC, 'runs');
    return row ? reviveRuns(row) : [];
  }

  /** Adds a run, or replaces the one with its id (its end after its start). */
  async saveSyncRun(run: SyncRunRecord): Promise<void> {
    await this.readModifyWrite(SYNC, 'runs', (row) => {
      const runs = (row ? reviveRuns(row) : []).filter((r) => r.id !== run.id);
      runs.push(run);
      runs.sort((a, b) => b.startedAt.getTime() - a.startedAt.getTime());
      return packText('runs', JSON.stringify(runs.slice(0, SYNC_RUNS_KEPT)));
    });
  }

  private async row(pk: string, rk: string): Promise<Row | undefined> {
    await this.ready();
    return unlessStatus(this.table.getEntity<Record<string, unknown>>(pk, rk), 404);
  }

  /**
   * Reads the row, lets `change` decide its new properties (undefined: leave it), and writes
   * them guarded by the ETag read (an insert when there was no row); lost races start over.
   */
  private async readModifyWrite(
    pk: string,
    rk: string,
    change: (row: Row | undefined) => Record<string, unknown> | undefined,
  ): Promise<void> {
    const outcome = await retryOnConflict(async () => {
      const row = await this.row(pk, rk);
      const next = change(row);
      if (!next) return true;
      const entity = { partitionKey: pk, rowKey: rk, ...next };
      const written = row
        ? await unlessStatus(this.table.updateEntity(entity, 'Replace', { etag: row.etag }), 412, 404)
        : await unlessStatus(this.table.createEntity(entity), 409);
      return written ? true : CONFLICT;
    }, 8);
    if (outcome === CONFLICT) throw new Error(`${DIRECTORY_ACTIVITY_TABLE} ${pk}/${rk}: changed by other writers on every attempt`);
  }
}

const sameError = (a: ScimErrorRecord, b: ScimErrorRecord) =>
  a.method === b.method && a.path === b.path && a.status === b.status && a.scimType === b.scimType && a.detail === b.detail;

function reviveErrors(row: Row): ScimErrorRecord[] {
  const list = JSON.parse(unpackText('errors', row) || '[]') as Array<ScimErrorRecord & { at: string; lastAt: string }>;
  return list.map((e) => ({ ...e, at: new Date(e.at), lastAt: new Date(e.lastAt) }));
}

function reviveRuns(row: Row): SyncRunRecord[] {
  const list = JSON.parse(unpackText('runs', row) || '[]') as Array<SyncRunRecord & { startedAt: string; finishedAt?: string }>;
  return list.map((r) => ({ ...r, startedAt: new Date(r.startedAt), ...(r.finishedAt ? { finishedAt: new Date(r.finishedAt) } : {}) }));
}
