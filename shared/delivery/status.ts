/** What an administrator sees of a job: fields, files, delivery per destination. No token, no secret. */
import { AppError } from '../errors';
import type { DeliveryRepository, ScanJobRepository } from '../storage';

export async function jobStatus(scanJobs: Pick<ScanJobRepository, 'get'>, deliveries: Pick<DeliveryRepository, 'list'>, jobId: string) {
  const job = /^[0-9a-f-]{36}$/i.test(jobId) ? await scanJobs.get(jobId) : undefined;
  if (!job) throw new AppError('job_not_found', `There is no scan job '${jobId.slice(0, 64)}'.`);
  return {
    jobId: job.jobId,
    status: job.status,
    scanJobId: job.scanJobId,
    receivedAt: job.receivedAt.toISOString(),
    senderAddress: job.senderAddress,
    fields: job.fields,
    files: job.files.map((f) => ({ name: f.name, contentType: f.contentType, size: f.size, sha256: f.sha256 })),
    delivery: {
      state: job.deliveryState ?? 'queued',
      reason: job.deliveryReason,
      destinations: (await deliveries.list(job.jobId)).map((d) => ({
        destination: d.destinationId,
        status: d.status,
        attempts: d.attempts,
        remoteId: d.remoteId,
        code: d.code,
        lastError: d.lastError,
        updatedAt: d.updatedAt.toISOString(),
      })),
    },
  };
}
