import { odata, type TableClient } from '@azure/data-tables';
import { once, unlessStatus } from './clients';
import type { ScanJob, ScanJobStatus } from './scanJobs';

export const JOB_INDEX_TABLE = 'jobindex';

/** Longest value of a searchable field the index keeps (longer ones are cut). */
export const INDEXED_VALUE_CHARS = 256;
const REASON_CHARS = 500;

/**
 * A job as the index knows it: what a search filters on and a list shows. One row per job that
 * is stored (written once it is) or abandoned (written by the ingest sweeper); the deliverer
 * keeps `deliveryState` and what goes with it in step with the job record.
 */
export interface JobIndexEntry {
  jobId: string;
  receivedAt: Date;
  status: ScanJobStatus;
  /** The job's delivery state (shared/errors/catalog.ts, kind `job`); `queued` until the deliverer records one. */
  deliveryState: string;
  deliveryReason?: string;
  workflowName?: string;
  username?: string;
  deviceName?: string;
  scanJobId?: string;
  fileCount: number;
  totalBytes: number;
  senderAddress?: string;
  /** When the job became delivered to every destination its rules select. */
  deliveredAt?: Date;
  /** The destinations that failed for good, when the state says some did. */
  failedDestinations: string[];
  /** Its delivery message went to the poison queue at some point (never reset). */
  poisoned: boolean;
}

/** Where a listing stopped: the service's continuation values (opaque: Azure encodes them), to resume there. */
export interface IndexPosition {
  partitionKey: string;
  rowKey?: string;
}

export interface IndexPage {
  entries: JobIndexEntry[];
  next?: IndexPosition;
}

/** The index entry of a job record: its searchable fields, as stored. */
export function indexEntryOf(job: ScanJob): JobIndexEntry {
  return {
    jobId: job.jobId,
    receivedAt: job.receivedAt,
    status: job.status,
    deliveryState: job.deliveryState ?? 'queued',
    deliveryReason: job.deliveryReason,
    workflowName: job.fields['workflowName'],
    username: job.fields['username'],
    deviceName: job.fields['deviceName'],
    scanJobId: job.scanJobId,
    fileCount: job.files.length,
    totalBytes: job.files.reduce((n, f) => n + f.size, 0),
    senderAddress: job.senderAddress,
    deliveredAt: job.deliveredAt,
    failedDestinations: [],
    poisoned: false,
  };
}

/**
 * Keys of the index. PK: the UTC day of `receivedAt`, inverted (99999999 - YYYYMMDD, so that the
 * newest day sorts first); RK: the inverted time in ms (16 digits), then the jobId. The row key
 * alone orders every row newest first, across partitions too, and the day follows from it.
 */
export function dayKey(at: Date): string {
  const day = Number(at.toISOString().slice(0, 10).replace(/-/g, ''));
  return String(99_999_999 - day).padStart(8, '0');
}

export function timeKey(at: Date): string {
  return String(8_640_000_000_000_000 - at.getTime()).padStart(16, '0');
}

export function indexKeys(receivedAt: Date, jobId: string): { partitionKey: string; rowKey: string } {
  return { partitionKey: dayKey(receivedAt), rowKey: `${timeKey(receivedAt)}-${jobId}` };
}

/** The filter of jobs received from `from` to `to` (both included; either may be open). */
export function timeRangeFilter(from?: Date, to?: Date): string {
  const parts: string[] = [];
  if (to) parts.push(odata`PartitionKey ge ${dayKey(to)}`, odata`RowKey ge ${timeKey(to)}`);
  // '.' sorts right after the '-' that follows the time: every job of the very millisecond `from` is in.
  if (from) parts.push(odata`PartitionKey le ${dayKey(from)}`, odata`RowKey lt ${`${timeKey(from)}.`}`);
  return parts.join(' and ');
}

/** The searchable form of a field: trimmed, lower-cased, cut to INDEXED_VALUE_CHARS. */
export function searchKey(value: string): string {
  return value.trim().toLowerCase().slice(0, INDEXED_VALUE_CHARS);
}

/** The columns searches filter on (the lower-cased form of each field). */
export const SEARCH_COLUMNS = { workflowName: 'workflowKey', username: 'usernameKey', deviceName: 'deviceKey' } as const;

const cut = (v: string | undefined, n = INDEXED_VALUE_CHARS) => (v === undefined ? undefined : v.slice(0, n));

/** The row ScanRelay stores for an entry (exported for the bench, which seeds rows in batches). */
export function jobIndexEntity(entry: JobIndexEntry): Record<string, unknown> & { partitionKey: string; rowKey: string } {
  return {
    ...indexKeys(entry.receivedAt, entry.jobId),
    jobId: entry.jobId,
    receivedAt: entry.receivedAt,
    status: entry.status,
    deliveryState: entry.deliveryState,
    deliveryReason: cut(entry.deliveryReason, REASON_CHARS) ?? '',
    workflowName: cut(entry.workflowName),
    username: cut(entry.username),
    deviceName: cut(entry.deviceName),
    workflowKey: entry.workflowName === undefined ? undefined : searchKey(entry.workflowName),
    usernameKey: entry.username === undefined ? undefined : searchKey(entry.username),
    deviceKey: entry.deviceName === undefined ? undefined : searchKey(entry.deviceName),
    scanJobId: cut(entry.scanJobId),
    fileCount: entry.fileCount,
    totalBytes: entry.totalBytes,
    senderAddress: entry.senderAddress,
    deliveredAt: entry.deliveredAt,
    failedDestinations: JSON.stringify(entry.failedDestinations),
    // Sticky: a merge without the column keeps what is there.
    ...(entry.poisoned ? { poisoned: true } : {}),
  };
}

function fromEntity(e: Record<string, unknown>): JobIndexEntry {
  const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  let failed: unknown;
  try {
    failed = JSON.parse(typeof e.failedDestinations === 'string' ? e.failedDestinations : '[]');
  } catch {
    failed = [];
  }
  return {
    jobId: e.jobId as string,
    receivedAt: new Date(e.receivedAt as string | Date),
    status: e.status as ScanJobStatus,
    deliveryState: (e.deliveryState as string | undefined) || 'queued',
    deliveryReason: text(e.deliveryReason),
    workflowName: text(e.workflowName),
    username: text(e.username),
    deviceName: text(e.deviceName),
    scanJobId: text(e.scanJobId),
    fileCount: Number(e.fileCount ?? 0),
    totalBytes: Number(e.totalBytes ?? 0),
    senderAddress: text(e.senderAddress),
    deliveredAt: e.deliveredAt ? new Date(e.deliveredAt as string | Date) : undefined,
    failedDestinations: Array.isArray(failed) ? failed.filter((d): d is string => typeof d === 'string') : [],
    poisoned: e.poisoned === true,
  };
}

/**
 * The job index (`jobindex`): one row per stored or abandoned job, newest first (see indexKeys),
 * with the searchable fields and the delivery state. Searches are range queries over it; the
 * job record (`scanjobs`) stays the truth about a job, and the index follows it.
 */
export class JobIndexRepository {
  private readonly ready: () => Promise<void>;

  constructor(private readonly table: TableClient) {
    this.ready = once(() => table.createTable());
  }

  /**
   * Writes the row unless there is one (false then): the ingest commit and the sweeper's repair.
   * A row that exists was written from a later state (the deliverer's), which must not be undone.
   */
  async insert(entry: JobIndexEntry): Promise<boolean> {
    await this.ready();
    return (await unlessStatus(this.table.createEntity(jobIndexEntity(entry)), 409)) !== undefined;
  }

  /** Writes the row whatever is there (merged: `poisoned` stays once set): a new delivery state. */
  async upsert(entry: JobIndexEntry): Promise<void> {
    await this.ready();
    await this.table.upsertEntity(jobIndexEntity(entry), 'Merge');
  }

  async get(receivedAt: Date, jobId: string): Promise<JobIndexEntry | undefined> {
    await this.ready();
    const { partitionKey, rowKey } = indexKeys(receivedAt, jobId);
    const e = await unlessStatus(this.table.getEntity<Record<string, unknown>>(partitionKey, rowKey), 404);
    return e && fromEntity(e);
  }

  /**
   * One call to the service: at most `top` rows matching `filter`, newest first, from `from` on.
   * The service may answer fewer (even none) and a position to go on from (it stops after 1,000
   * rows, five seconds, or at a partition boundary: https://learn.microsoft.com/rest/api/storageservices/query-timeout-and-pagination).
   */
  async page(filter: string, from: IndexPosition | undefined, top: number, select?: string[]): Promise<IndexPage> {
    await this.ready();
    const pages = this.table
      .listEntities<Record<string, unknown>>({ queryOptions: { filter: filter || undefined, select } })
      .byPage({ maxPageSize: top, continuationToken: from && sdkToken(from) });
    const first = await pages.next();
    const rows = (first.done ? [] : first.value) as Array<Record<string, unknown>> & { continuationToken?: string };
    return { entries: rows.map(fromEntity), next: rows.continuationToken ? positionOf(rows.continuationToken) : undefined };
  }
}

/**
 * @azure/data-tables' page token is base64 JSON of the service's continuation headers
 * (`{ nextPartitionKey, nextRowKey }`, src/utils/continuationToken.ts); positions are kept as
 * those two values (the search checks a position it is given before it comes here).
 */
function sdkToken(p: IndexPosition): string {
  return Buffer.from(JSON.stringify({ nextPartitionKey: p.partitionKey, ...(p.rowKey ? { nextRowKey: p.rowKey } : {}) })).toString(
    'base64',
  );
}

function positionOf(token: string): IndexPosition | undefined {
  const t = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { nextPartitionKey?: unknown; nextRowKey?: unknown };
  if (typeof t.nextPartitionKey !== 'string') return undefined;
  return { partitionKey: t.nextPartitionKey, rowKey: typeof t.nextRowKey === 'string' && t.nextRowKey ? t.nextRowKey : undefined };
}
