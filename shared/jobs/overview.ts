/**
 * The jobs' numbers for the console's Overview: jobs received today (UTC) and where they stand,
 * ingest → delivered latency of today's delivered jobs, and what needs attention among the jobs
 * received in the last 24 hours (failed deliveries, poisoned and abandoned jobs). One range query
 * over the job index (the rows of at most two days, a few columns each).
 */
import { timeRangeFilter, type IndexPosition, type JobIndexEntry } from '../storage';
import { summaryOf, type JobSummary } from './search';
import type { JobsDeps } from './types';

/** Jobs listed per attention item (the newest; `count` has them all). */
export const LISTED_PER_ITEM = 20;
const PAGE_ROWS = 1000;
const DAY_MS = 86_400_000;

const COLUMNS = [
  'jobId',
  'receivedAt',
  'status',
  'deliveryState',
  'deliveryReason',
  'deliveredAt',
  'failedDestinations',
  'poisoned',
  // What an attention item names a job by.
  'workflowName',
  'username',
];

export interface AttentionItem {
  count: number;
  /** The newest LISTED_PER_ITEM of them. */
  jobs: JobSummary[];
}

export interface JobsOverview {
  /** The UTC day `today` counts (YYYY-MM-DD). */
  day: string;
  generatedAt: string;
  today: {
    /** Jobs stored today. */
    received: number;
    delivered: number;
    /** `failed` and `partially_failed`. */
    failed: number;
    /** Stored today, by delivery state. */
    byState: Record<string, number>;
    /** Received to delivered, over today's delivered jobs (nearest rank); null when none is delivered. */
    latencyMs: { count: number; p50: number; p95: number } | null;
  };
  last24h: {
    since: string;
    /** Destinations that failed for good, over the jobs below. */
    failedDeliveries: number;
    failedJobs: AttentionItem;
    poisonedJobs: AttentionItem;
    abandonedJobs: AttentionItem;
  };
}

export async function jobsOverview(deps: Pick<JobsDeps, 'jobIndex' | 'now'>): Promise<JobsOverview> {
  const now = deps.now?.() ?? new Date();
  const since = new Date(now.getTime() - DAY_MS);
  const dayStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  // No upper bound: a job another instance stamped a moment ahead of this clock counts too.
  const filter = timeRangeFilter(since, undefined); // today began less than 24 hours ago
  const rows: JobIndexEntry[] = [];
  let at: IndexPosition | undefined;
  do {
    const page = await deps.jobIndex.page(filter, at, PAGE_ROWS, COLUMNS);
    rows.push(...page.entries);
    at = page.next;
  } while (at);

  const today = rows.filter((r) => r.status === 'stored' && r.receivedAt >= dayStart);
  const byState: Record<string, number> = {};
  for (const r of today) byState[r.deliveryState] = (byState[r.deliveryState] ?? 0) + 1;
  const latencies = today
    .filter((r) => r.deliveryState === 'delivered' && r.deliveredAt)
    .map((r) => r.deliveredAt!.getTime() - r.receivedAt.getTime())
    .sort((a, b) => a - b);

  const recent = rows.filter((r) => r.receivedAt >= since); // newest first, as the index lists them
  const failed = recent.filter((r) => r.status === 'stored' && (r.deliveryState === 'failed' || r.deliveryState === 'partially_failed'));
  const item = (jobs: JobIndexEntry[]): AttentionItem => ({ count: jobs.length, jobs: jobs.slice(0, LISTED_PER_ITEM).map(summaryOf) });
  return {
    day: dayStart.toISOString().slice(0, 10),
    generatedAt: now.toISOString(),
    today: {
      received: today.length,
      delivered: byState['delivered'] ?? 0,
      failed: (byState['failed'] ?? 0) + (byState['partially_failed'] ?? 0),
      byState,
      latencyMs: latencies.length ? { count: latencies.length, p50: rank(latencies, 0.5), p95: rank(latencies, 0.95) } : null,
    },
    last24h: {
      since: since.toISOString(),
      failedDeliveries: failed.reduce((n, r) => n + Math.max(1, r.failedDestinations.length), 0),
      failedJobs: item(failed),
      poisonedJobs: item(recent.filter((r) => r.poisoned)),
      abandonedJobs: item(recent.filter((r) => r.status === 'abandoned')),
    },
  };
}

/** The nearest-rank percentile of sorted values. */
function rank(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}
