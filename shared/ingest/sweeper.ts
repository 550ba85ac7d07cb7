/**
 * The ingest sweeper (timer `sweepIngests`): removes what requests that died left behind. Each
 * request storing files holds a lease in `ingestleases`; a lease that ran out (beyond a third of
 * its length, for clocks) belongs to a request that is gone. For each such lease:
 *
 * 1. take the lease (ETag): should its request come back, its next renewal fails and it stops;
 * 2. make the job unable to become stored: a pending record becomes `abandoned`, a missing one
 *    an `abandoned` tombstone (a late request's insert or ETag-guarded update then fails). If the
 *    record is already `stored`, the request finished after all: only its claim is completed;
 * 3. write the job's row in the job index unless it is there: an `abandoned` job's, so that
 *    searches show it; a stored job's, when its request died before writing it;
 * 4. delete the job's blobs, release its scanJobID claim if it still holds it, delete the lease.
 *
 * Every step can be repeated: a sweep that dies half-way leaves the lease, which runs out again.
 * A queue message the dead request sent is dropped by the deliverer (the job is not stored).
 */
import { forEachLimited } from '../concurrency';
import { describeError, type Logger } from '../log';
import {
  indexEntryOf,
  type IngestLease,
  type IngestLeaseRepository,
  type JobIndexRepository,
  type ScanBlobStore,
  type ScanJobRepository,
} from '../storage';

export interface SweepDeps {
  ingestLeases: Pick<IngestLeaseRepository, 'list' | 'renew' | 'delete'>;
  scanJobs: Pick<ScanJobRepository, 'abandon' | 'get' | 'getClaim' | 'releaseClaim' | 'completeClaim'>;
  jobIndex: Pick<JobIndexRepository, 'insert'>;
  scanBlobs: Pick<ScanBlobStore, 'deleteJob'>;
  /** The owner lease's length (INGEST_LEASE_SECONDS). */
  leaseMs: number;
  log: Logger;
}

export interface SweepResult {
  /** Requests found dead whose leftovers were removed. */
  abandoned: number;
  /** Requests found dead after their job was stored: only their lease (and claim) were tidied. */
  completed: number;
  /** Leases that could not be swept this time (logged; the next sweep tries again). */
  failed: number;
}

export async function sweepIngests(deps: SweepDeps): Promise<SweepResult> {
  const result: SweepResult = { abandoned: 0, completed: 0, failed: 0 };
  const now = Date.now();
  const dead = (await deps.ingestLeases.list()).filter((l) => now > l.leaseUntil.getTime() + deps.leaseMs / 3);
  await forEachLimited(dead, 4, async (lease) => {
    try {
      const outcome = await sweep(lease, deps);
      if (outcome) result[outcome]++;
    } catch (err) {
      result.failed++;
      deps.log.warn('sweepIngests: could not sweep a dead request; the next sweep tries again', {
        jobId: lease.jobId,
        ...describeError(err),
      });
    }
  });
  if (result.abandoned || result.completed || result.failed) deps.log.info('sweepIngests: done', { ...result });
  return result;
}

async function sweep(lease: IngestLease, deps: SweepDeps): Promise<'abandoned' | 'completed' | undefined> {
  const taken = await deps.ingestLeases.renew(lease, new Date(Date.now() + deps.leaseMs));
  if (!taken) return undefined; // renewed or removed since we listed it: not dead after all
  const state = await deps.scanJobs.abandon(lease.jobId, lease.startedAt);
  const record = await deps.scanJobs.get(lease.jobId);
  if (record) await deps.jobIndex.insert(indexEntryOf(record));
  const claim = lease.scanJobId ? await deps.scanJobs.getClaim(lease.scanJobId) : undefined;
  const ours = claim?.jobId === lease.jobId && claim.status === 'pending' ? claim : undefined;
  if (state === 'stored') {
    if (ours) await deps.scanJobs.completeClaim(lease.scanJobId!, ours.etag);
  } else {
    await deps.scanBlobs.deleteJob(lease.jobId);
    if (ours) await deps.scanJobs.releaseClaim(lease.scanJobId!, ours.etag);
    deps.log.warn('sweepIngests: removed the leftovers of a request that died', { jobId: lease.jobId });
  }
  await deps.ingestLeases.delete(taken);
  return state === 'stored' ? 'completed' : 'abandoned';
}
