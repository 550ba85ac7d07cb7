/**
 * Searching jobs (GET /api/jobs): newest first, paged. A search is one range query over the job
 * index (time range as row keys, the rest as a filter), a few service calls at most per page; a
 * scanJobID is a point read of its claim, and `status=pending` lists the requests being stored.
 */
import { odata } from '@azure/data-tables';
import { forEachLimited } from '../concurrency';
import { hasStatus, indexEntryOf, SEARCH_COLUMNS, searchKey, timeRangeFilter, type IndexPosition, type JobIndexEntry } from '../storage';
import { badContinuation, encodeContinuation, type FieldMatch, type JobQuery } from './query';
import type { JobsDeps } from './types';

/**
 * Service calls one page may make. A rare filter over a long range can take many: the page then
 * holds what was found (maybe nothing) and a continuation, so that each answer's work is bounded.
 */
export const MAX_CALLS_PER_PAGE = 4;

/** A job in a list. */
export interface JobSummary {
  jobId: string;
  receivedAt: string;
  /** stored, pending (being stored right now) or abandoned (its request died; nothing kept). */
  status: string;
  /** A stored job's delivery state (shared/errors/catalog.ts, kind `job`). */
  deliveryState?: string;
  deliveryReason?: string;
  workflowName?: string;
  username?: string;
  deviceName?: string;
  scanJobId?: string;
  fileCount: number;
  totalBytes: number;
  deliveredAt?: string;
  /** Ingest to delivered, in ms. */
  latencyMs?: number;
  failedDestinations?: string[];
  poisoned?: boolean;
  /** A pending job's request still renews its lease (false: it died; the sweeper will abandon it). */
  alive?: boolean;
}

export interface JobList {
  jobs: JobSummary[];
  /** Pass as `continuation` for the next page; absent on the last one. */
  continuation?: string;
}

export async function searchJobs(deps: JobsDeps, q: JobQuery): Promise<JobList> {
  if (q.statuses.includes('pending')) return pendingJobs(deps, q);
  if (q.scanJobId) return byScanJobId(deps, q);
  const filter = [timeRangeFilter(q.from, q.to), statusFilter(q.statuses), ...fieldFilters(q)].filter(Boolean).join(' and ');
  const found: JobIndexEntry[] = [];
  let at: IndexPosition | undefined = q.after;
  for (let call = 0; call < MAX_CALLS_PER_PAGE; call++) {
    const page = await deps.jobIndex.page(filter, at, q.limit - found.length, LIST_COLUMNS).catch((err: unknown) => {
      // The service refuses a continuation it cannot read with a 400.
      if (call === 0 && q.after && hasStatus(err, 400)) throw badContinuation();
      throw err;
    });
    found.push(...page.entries);
    at = page.next;
    if (!at || found.length >= q.limit) break;
  }
  return { jobs: found.map(summaryOf), continuation: at && encodeContinuation(at) };
}

/** The index columns a list shows. */
const LIST_COLUMNS = [
  'jobId',
  'receivedAt',
  'status',
  'deliveryState',
  'deliveryReason',
  'workflowName',
  'username',
  'deviceName',
  'scanJobId',
  'fileCount',
  'totalBytes',
  'deliveredAt',
  'failedDestinations',
  'poisoned',
];

function statusFilter(statuses: string[]): string {
  if (!statuses.length) return '';
  const any = statuses.map((s) =>
    s === 'stored' || s === 'abandoned' ? odata`status eq ${s}` : odata`(status eq 'stored' and deliveryState eq ${s})`,
  );
  return `(${any.join(' or ')})`;
}

function fieldFilters(q: JobQuery): string[] {
  return (Object.keys(SEARCH_COLUMNS) as Array<keyof typeof SEARCH_COLUMNS>).flatMap((field) => {
    const match = q[field];
    if (!match) return [];
    const column = SEARCH_COLUMNS[field];
    // (odata quotes and escapes a value that follows text: the column name is put before it.)
    if (!match.prefix) return [column + odata` eq ${match.key}`];
    // Strings compare by code unit: the values starting with `key` lie from key to key with its last unit raised.
    const upper = match.key.slice(0, -1) + String.fromCharCode(match.key.charCodeAt(match.key.length - 1) + 1);
    return [column + odata` ge ${match.key}`, column + odata` lt ${upper}`];
  });
}

export function summaryOf(e: JobIndexEntry): JobSummary {
  const stored = e.status === 'stored';
  return {
    jobId: e.jobId,
    receivedAt: e.receivedAt.toISOString(),
    status: e.status,
    deliveryState: stored ? e.deliveryState : undefined,
    deliveryReason: e.deliveryReason,
    workflowName: e.workflowName,
    username: e.username,
    deviceName: e.deviceName,
    scanJobId: e.scanJobId,
    fileCount: e.fileCount,
    totalBytes: e.totalBytes,
    deliveredAt: e.deliveredAt?.toISOString(),
    latencyMs: e.deliveredAt ? e.deliveredAt.getTime() - e.receivedAt.getTime() : undefined,
    failedDestinations: e.failedDestinations.length ? e.failedDestinations : undefined,
    poisoned: e.poisoned || undefined,
  };
}

/** Whether an entry matches the query (the scanJobID and pending searches, which do not go through the index). */
function matches(e: JobIndexEntry, q: JobQuery): boolean {
  if (q.from && e.receivedAt < q.from) return false;
  if (q.to && e.receivedAt > q.to) return false;
  if (q.statuses.length && !q.statuses.some((s) => s === e.status || (e.status === 'stored' && s === e.deliveryState))) return false;
  const field = (m: FieldMatch | undefined, v: string | undefined) =>
    !m || (v !== undefined && (m.prefix ? searchKey(v).startsWith(m.key) : searchKey(v) === m.key));
  return field(q.workflowName, e.workflowName) && field(q.username, e.username) && field(q.deviceName, e.deviceName);
}

/** A scanJobID: its claim names the job (two point reads, three with the index row). */
async function byScanJobId(deps: JobsDeps, q: JobQuery): Promise<JobList> {
  const claim = await deps.scanJobs.getClaim(q.scanJobId!);
  if (!claim) return { jobs: [] };
  // A claim without a record: its request is storing the job (the record is its last write), or
  // died before that and the sweeper has not been by yet. It is shown pending, as in pendingJobs.
  const job = (await deps.scanJobs.get(claim.jobId)) ?? {
    jobId: claim.jobId,
    status: 'pending' as const,
    scanJobId: q.scanJobId,
    receivedAt: claim.claimedAt,
    fields: {},
    files: [],
  };
  const entry = job.status === 'pending' ? indexEntryOf(job) : ((await deps.jobIndex.get(job.receivedAt, job.jobId)) ?? indexEntryOf(job));
  return { jobs: matches(entry, q) ? [summaryOf(entry)] : [] };
}

/**
 * The requests storing a job right now (or dead, not swept yet): their ingest leases, a small
 * table read whole, each with its record when it has one. Newest first, one page.
 */
async function pendingJobs(deps: JobsDeps, q: JobQuery): Promise<JobList> {
  const now = (deps.now?.() ?? new Date()).getTime();
  const leases = await deps.ingestLeases.list();
  const jobs: Array<{ entry: JobIndexEntry; alive: boolean }> = [];
  await forEachLimited(leases, 8, async (lease) => {
    const record = await deps.scanJobs.get(lease.jobId);
    if (record && record.status !== 'pending') return; // stored (its lease goes next) or abandoned
    const entry: JobIndexEntry = record
      ? indexEntryOf(record)
      : {
          ...indexEntryOf({ jobId: lease.jobId, status: 'pending', receivedAt: lease.startedAt, fields: {}, files: [] }),
          scanJobId: lease.scanJobId,
        };
    jobs.push({ entry, alive: now <= lease.leaseUntil.getTime() + deps.leaseMs / 3 });
  });
  const shown = jobs
    .filter((j) => matches(j.entry, { ...q, statuses: [] }))
    .sort((a, b) => b.entry.receivedAt.getTime() - a.entry.receivedAt.getTime() || a.entry.jobId.localeCompare(b.entry.jobId))
    .slice(0, q.limit);
  return { jobs: shown.map((j) => ({ ...summaryOf(j.entry), deliveryState: undefined, alive: j.alive })) };
}
