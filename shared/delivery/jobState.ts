/**
 * What delivery records besides the deliveries rows: a job's delivery state, kept in the job
 * record (the truth) and in its job index row (what searches and the overview read), written
 * together; and the timeline of each (job, destination) in `deliveryattempts`.
 */
import type { JobDeliveryState } from '../errors';
import { describeError, type Logger } from '../log';
import {
  indexEntryOf,
  type DeliveryAttempt,
  type DeliveryAttemptRepository,
  type JobIndexRepository,
  type ScanJob,
  type ScanJobRepository,
} from '../storage';

export interface JobStateDeps {
  scanJobs: Pick<ScanJobRepository, 'setDeliveryState'>;
  jobIndex: Pick<JobIndexRepository, 'upsert'>;
}

export interface JobStateMarks {
  /** When it became delivered (state `delivered`). */
  deliveredAt?: Date;
  /** The destinations that failed for good. */
  failedDestinations?: string[];
  /** Its message goes (or went) to the poison queue. */
  poisoned?: boolean;
}

/**
 * Sets a job's delivery state in its record and its index row, at once. Both are merges, the
 * last writer wins in each (as the record alone had it); the index row is written whole from the
 * record as read, so it is also created here when the ingest commit could not write it.
 */
export async function setJobState(
  deps: JobStateDeps,
  job: ScanJob,
  state: JobDeliveryState,
  reason?: string,
  marks: JobStateMarks = {},
): Promise<void> {
  const entry = {
    ...indexEntryOf(job),
    deliveryState: state,
    deliveryReason: reason,
    deliveredAt: marks.deliveredAt,
    failedDestinations: marks.failedDestinations ?? [],
    poisoned: marks.poisoned === true,
  };
  // Both writes are waited for, also when one fails: the caller never goes on (or retries) while
  // the other is still in flight.
  const written = await Promise.allSettled([
    deps.scanJobs.setDeliveryState(job.jobId, state, reason, marks.deliveredAt),
    deps.jobIndex.upsert(entry),
  ]);
  const failed = written.find((w): w is PromiseRejectedResult => w.status === 'rejected');
  if (failed) throw failed.reason;
}

export interface TimelineDeps {
  attempts: Pick<DeliveryAttemptRepository, 'add'>;
  log: Logger;
}

/**
 * Adds an entry to a destination's timeline. The timeline tells an administrator what happened;
 * it decides nothing, so a failed write is logged and the delivery goes on (it leaves a gap in the
 * timeline, never a wrong state).
 */
export async function noteAttempt(deps: TimelineDeps, entry: DeliveryAttempt): Promise<void> {
  try {
    await deps.attempts.add(entry);
  } catch (err) {
    deps.log.warn('deliver: could not add to the delivery timeline', {
      jobId: entry.jobId,
      destination: entry.destinationId,
      ...describeError(err),
    });
  }
}
