/**
 * A job in full (GET /api/jobs/{jobId}): its fields and files, its delivery state, and per
 * destination where it stands with the timeline of every attempt. No token, no secret.
 */
import { AppError } from '../errors';
import type { DeliveryAttempt, ScanJob } from '../storage';
import type { JobsDeps } from './types';

const JOB_ID = /^[0-9a-f-]{36}$/i;

export interface TimelineEntry {
  kind: DeliveryAttempt['kind'];
  attempt: number;
  at: string;
  endedAt?: string;
  durationMs?: number;
  outcome: DeliveryAttempt['outcome'];
  code?: string;
  message?: string;
  remoteId?: string;
  /** The https links in the remote id (a OneDrive or SharePoint item's web URL). */
  links?: string[];
}

/** A job's record, or 404 job_not_found (also for an id that cannot be one). */
export async function findJob(deps: Pick<JobsDeps, 'scanJobs'>, jobId: string): Promise<ScanJob> {
  const job = JOB_ID.test(jobId) ? await deps.scanJobs.get(jobId) : undefined;
  if (!job) throw new AppError('job_not_found', `There is no scan job '${jobId.slice(0, 64)}'.`);
  return job;
}

export async function jobDetail(deps: JobsDeps, jobId: string) {
  const job = await findJob(deps, jobId);
  const stored = job.status === 'stored';
  const [rows, timeline, indexed] = await Promise.all([
    deps.deliveries.list(job.jobId),
    deps.attempts.list(job.jobId),
    stored ? deps.jobIndex.get(job.receivedAt, job.jobId) : undefined,
  ]);
  const ids = [...new Set([...rows.map((r) => r.destinationId), ...timeline.map((t) => t.destinationId)])].sort();
  return {
    jobId: job.jobId,
    status: job.status,
    scanJobId: job.scanJobId,
    receivedAt: job.receivedAt.toISOString(),
    senderAddress: job.senderAddress,
    fields: job.fields,
    files: job.files.map((f, index) => ({
      index,
      name: f.name,
      contentType: f.contentType,
      declaredContentType: f.declaredContentType,
      size: f.size,
      sha256: f.sha256,
      // Abandoned and pending jobs have no files to give.
      download: stored ? `/api/jobs/${job.jobId}/files/${index}` : undefined,
    })),
    delivery: stored
      ? {
          state: job.deliveryState ?? 'queued',
          reason: job.deliveryReason,
          deliveredAt: job.deliveredAt?.toISOString(),
          latencyMs: job.deliveredAt && job.deliveredAt.getTime() - job.receivedAt.getTime(),
          poisoned: indexed?.poisoned ?? false,
          destinations: ids.map((id) => {
            const row = rows.find((r) => r.destinationId === id);
            return {
              destination: id,
              status: row?.status,
              attempts: row?.attempts ?? 0,
              remoteId: row?.remoteId,
              links: linksIn(row?.remoteId),
              code: row?.code,
              lastError: row?.lastError,
              updatedAt: row?.updatedAt.toISOString(),
              timeline: timeline.filter((t) => t.destinationId === id).map(entryOf),
            };
          }),
        }
      : undefined,
  };
}

export type JobDetail = Awaited<ReturnType<typeof jobDetail>>;

function entryOf(t: DeliveryAttempt): TimelineEntry {
  return {
    kind: t.kind,
    attempt: t.attempt,
    at: t.at.toISOString(),
    endedAt: t.endedAt?.toISOString(),
    durationMs: t.durationMs,
    outcome: t.outcome,
    code: t.code,
    message: t.message,
    remoteId: t.remoteId,
    links: linksIn(t.remoteId),
  };
}

/** Connectors put a delivered item's web URL in its remote id (several: `; `-separated). */
function linksIn(remoteId: string | undefined): string[] | undefined {
  const links = (remoteId ?? '').split('; ').filter((part) => {
    try {
      return new URL(part).protocol === 'https:';
    } catch {
      return false;
    }
  });
  return links.length ? links : undefined;
}
