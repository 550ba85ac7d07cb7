/**
 * Delivery: the queue-triggered deliverer takes a stored job to every destination its rules
 * select, exactly once per (job, destination): a row in `deliveries` is leased before a
 * connector runs and records `delivered` (with the remote id) or `failed` (with the reason).
 * Transient failures are retried through the queue (visibility timeout, maxDequeueCount in
 * host.json); after the last attempt the job's record says why and the message goes to poison.
 */
import { withDirectoryFacts, type FindUser } from '../directory';
import { describeError, type Logger } from '../log';
import type { DeliveryRepository, ScanBlobStore, ScanJob, ScanJobRepository } from '../storage';
import { route, type Destination } from './destinations';
import { PermanentDeliveryError, type DeliveryContext, type DeliveryJob } from './types';

/** Must equal host.json's extensions.queues.maxDequeueCount (a test checks it). */
export const DELIVERY_MAX_ATTEMPTS = 5;
/** How long one worker holds a (job, destination) before another may try it. */
const LEASE_MS = 10 * 60 * 1000;
/** A job still `pending` this long after it was received was abandoned by its request. */
const ABANDONED_MS = 10 * 60 * 1000;

export interface DelivererDeps {
  scanJobs: Pick<ScanJobRepository, 'get' | 'setDeliveryState'>;
  scanBlobs: Pick<ScanBlobStore, 'download'>;
  deliveries: DeliveryRepository;
  destinations: readonly Destination[];
  context: Omit<DeliveryContext, 'log'>;
  /** The directory's user by userName/UPN, to fill fields the printer did not send. */
  findUser?: FindUser;
  log: Logger;
}

export type JobOutcome = 'delivered' | 'partially_failed' | 'failed' | 'undeliverable' | 'skipped';

/** Thrown to make the queue retry the message (the job's record says why). */
export class RetryLaterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RetryLaterError';
  }
}

export async function deliverJob(message: unknown, attempt: number, deps: DelivererDeps): Promise<JobOutcome> {
  const jobId = (message as { jobId?: unknown } | null)?.jobId;
  if (typeof jobId !== 'string' || !jobId) {
    deps.log.warn('deliver: a message without a jobId was dropped');
    return 'skipped';
  }
  const job = await deps.scanJobs.get(jobId);
  if (!job) {
    deps.log.warn('deliver: no such job (rolled back or removed)', { jobId });
    return 'skipped';
  }
  if (job.status !== 'stored') {
    if (Date.now() - job.receivedAt.getTime() > ABANDONED_MS) return 'skipped';
    throw new RetryLaterError(`Job ${jobId} is not stored yet.`);
  }

  const fields = await withDirectoryFacts(job.fields, deps.findUser, deps.log);
  const targets = route(fields, deps.destinations);
  if (targets.length === 0) {
    const reason = `No destination rule selects this job (workflowName '${fields.workflowName ?? ''}').`;
    await deps.scanJobs.setDeliveryState(jobId, 'undeliverable', reason);
    deps.log.warn('deliver: undeliverable', { jobId });
    return 'undeliverable';
  }

  const deliveryJob = toDeliveryJob({ ...job, fields }, deps);
  const outcomes = await Promise.all(targets.map((d) => deliverTo(deliveryJob, d, attempt, deps)));
  const retry = targets.filter((_, i) => outcomes[i] === 'retry');
  const failed = outcomes.filter((o) => o === 'failed').length;
  const delivered = outcomes.filter((o) => o === 'delivered').length;

  if (retry.length) {
    const names = retry.map((d) => d.id).join(', ');
    if (attempt >= DELIVERY_MAX_ATTEMPTS) {
      await deps.scanJobs.setDeliveryState(jobId, delivered ? 'partially_failed' : 'failed', `Gave up after ${attempt} attempts: ${names}.`);
      throw new RetryLaterError(`Job ${jobId}: ${names} still failing after ${attempt} attempts; the message goes to the poison queue.`);
    }
    await deps.scanJobs.setDeliveryState(jobId, 'retrying', `Attempt ${attempt} failed for: ${names}.`);
    throw new RetryLaterError(`Job ${jobId}: ${names} will be retried.`);
  }
  const state: JobOutcome = failed === 0 ? 'delivered' : delivered ? 'partially_failed' : 'failed';
  await deps.scanJobs.setDeliveryState(jobId, state, failed ? `${failed} destination(s) failed; see deliveries.` : undefined);
  deps.log.info('deliver: done', { jobId, delivered, failed });
  return state;
}

function toDeliveryJob(job: ScanJob, deps: DelivererDeps): DeliveryJob {
  return {
    jobId: job.jobId,
    receivedAt: job.receivedAt,
    fields: job.fields,
    files: job.files.map((f) => ({
      name: f.name,
      contentType: f.contentType,
      size: f.size,
      sha256: f.sha256,
      open: () => deps.scanBlobs.download(f.blobName),
    })),
  };
}

/** Delivers to one destination unless already done or held by another worker. */
async function deliverTo(job: DeliveryJob, d: Destination, attempt: number, deps: DelivererDeps): Promise<'delivered' | 'failed' | 'retry'> {
  const now = Date.now();
  const row = await deps.deliveries.get(job.jobId, d.id);
  if (row?.status === 'delivered') return 'delivered';
  if (row?.status === 'failed') return 'failed';
  if (row?.status === 'delivering' && row.leaseUntil && row.leaseUntil.getTime() > now) return 'retry';
  const lease = { status: 'delivering' as const, leaseUntil: new Date(now + LEASE_MS), attempts: (row?.attempts ?? 0) + 1 };
  const held = row ? await deps.deliveries.update(row, lease) : await deps.deliveries.create(job.jobId, d.id, lease);
  if (!held) return 'retry'; // another worker took it this instant

  try {
    const result = await d.connector.deliver(job, d.options, { ...deps.context, log: deps.log });
    await deps.deliveries.update(held, { status: 'delivered', remoteId: result.remoteId, leaseUntil: undefined, lastError: undefined });
    deps.log.info('deliver: delivered', { jobId: job.jobId, destination: d.id });
    return 'delivered';
  } catch (err) {
    const reason = (describeError(err).message as string | undefined) ?? 'error';
    const permanent = err instanceof PermanentDeliveryError;
    const final = permanent || attempt >= DELIVERY_MAX_ATTEMPTS;
    await deps.deliveries.update(held, {
      status: final ? 'failed' : 'retrying',
      leaseUntil: undefined,
      lastError: (final && !permanent ? `Gave up after ${attempt} attempts: ${reason}` : reason).slice(0, 1000),
    });
    deps.log.warn('deliver: failed', { jobId: job.jobId, destination: d.id, permanent, attempt, ...describeError(err) });
    return permanent ? 'failed' : 'retry';
  }
}

export * from './destinations';
export * from './template';
export * from './types';
export { CONNECTORS } from './connectors';
