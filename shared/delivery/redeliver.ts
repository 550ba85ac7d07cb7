/**
 * Delivering a job again (POST /api/scan/{jobId}/redeliver): after a failure was fixed, an
 * administrator sends a failed, poisoned or undeliverable job once more, to one destination or
 * to every destination its rules select. Exactly once still holds: a destination already
 * delivered is never sent again, and one a worker is delivering right now is left to it; the
 * others are reset (ETag-guarded) and one new queue message delivers them.
 */
import { audit } from '../audit';
import { AppError } from '../errors';
import type { Logger } from '../log';
import {
  CONFLICT,
  leaseHeld,
  type Actor,
  type AuditLogRepository,
  retryOnConflict,
  type Delivery,
  type DeliveryAttemptRepository,
  type DeliveryQueue,
  type DeliveryRepository,
  type JobIndexRepository,
  type ScanJobRepository,
} from '../storage';
import { isDestinationsProblem, type DestinationSet } from './destinations';
import { noteAttempt, setJobState } from './jobState';
import { targetsOf } from './targets';
import type { FindUser } from './userFacts';

export type RedeliveryAction = 'queued' | 'already_delivered' | 'in_progress';

export interface RedeliveryResult {
  jobId: string;
  destinations: Array<{ destination: string; action: RedeliveryAction; previousStatus?: Delivery['status'] }>;
}

export interface RedeliverDeps {
  scanJobs: Pick<ScanJobRepository, 'get' | 'setDeliveryState'>;
  deliveries: Pick<DeliveryRepository, 'get' | 'update'>;
  jobIndex: Pick<JobIndexRepository, 'upsert'>;
  /** Each (job, destination)'s timeline: a redelivery is an entry in it. */
  attempts: Pick<DeliveryAttemptRepository, 'add'>;
  deliveryQueue: Pick<DeliveryQueue, 'enqueue'>;
  /** Every redelivery is an administrator's change: recorded with who asked. */
  auditLog: Pick<AuditLogRepository, 'add'>;
  /** The destinations in force (see DelivererDeps); throws when they cannot be used. */
  destinations: () => DestinationSet | Promise<DestinationSet>;
  findUser?: FindUser;
  log: Logger;
}

export async function redeliver(
  jobId: string,
  destinationId: string | undefined,
  deps: RedeliverDeps,
  actor: Actor,
): Promise<RedeliveryResult> {
  const job = /^[0-9a-f-]{36}$/i.test(jobId) ? await deps.scanJobs.get(jobId) : undefined;
  if (!job || job.status === 'abandoned') throw new AppError('job_not_found', `There is no scan job '${jobId.slice(0, 64)}'.`);
  if (job.status !== 'stored') throw new AppError('job_not_stored', 'The job is still being stored; try again in a moment.', 5);
  let set: DestinationSet;
  try {
    set = await deps.destinations();
  } catch (err) {
    if (isDestinationsProblem(err)) throw new AppError('destinations_invalid', `Fix the destinations first: ${err.message}`);
    throw err;
  }
  let { targets } = await targetsOf(job, set, deps);
  if (destinationId !== undefined) {
    if (!set.destinations.some((d) => d.id === destinationId)) {
      throw new AppError(
        'destination_not_found',
        `There is no destination '${destinationId.slice(0, 64)}' in ${set.file ?? (set.version ? `version ${set.version} of the destinations` : 'the destinations')}.`,
      );
    }
    targets = targets.filter((d) => d.id === destinationId);
    if (!targets.length) {
      const disabled = set.destinations.some((d) => d.id === destinationId && !d.enabled);
      throw new AppError(
        'destination_not_selected',
        disabled
          ? `Destination '${destinationId}' is disabled; enable it first (POST /api/destinations/${destinationId}/enable).`
          : `Destination '${destinationId}' does not select this job (its "when" rule); change the rule first.`,
      );
    }
  }
  if (!targets.length) throw new AppError('nothing_to_redeliver', 'No destination rule selects this job; change the rules first.');

  const result: RedeliveryResult = { jobId, destinations: [] };
  for (const d of targets) {
    result.destinations.push({ destination: d.id, ...(await reset(jobId, d.id, deps)) });
  }
  const queued = result.destinations.filter((r) => r.action === 'queued').map((r) => r.destination);
  if (!queued.length) {
    throw new AppError(
      'nothing_to_redeliver',
      `Nothing to deliver again: ${result.destinations.map((r) => `${r.destination} is ${r.action === 'already_delivered' ? 'delivered' : 'being delivered'}`).join(', ')}.`,
    );
  }
  await setJobState(deps, job, 'redelivering', `Delivery asked for again: ${queued.join(', ')}.`);
  await deps.deliveryQueue.enqueue({ jobId });
  await audit(deps, actor, 'job.redeliver', `job:${jobId}`, {
    before: { deliveryState: job.deliveryState ?? 'queued', destinations: statusesOf(result, (r) => r.previousStatus ?? 'none') },
    after: { deliveryState: 'redelivering', destinations: statusesOf(result, (r) => (r.action === 'queued' ? 'retrying' : r.action)) },
  });
  deps.log.info('redeliver: queued', { jobId, destinations: queued });
  return result;
}

const statusesOf = (result: RedeliveryResult, f: (r: RedeliveryResult['destinations'][number]) => string) =>
  Object.fromEntries(result.destinations.map((r) => [r.destination, f(r)]));

/** Makes one destination deliverable again, unless it is delivered or being delivered. */
async function reset(
  jobId: string,
  destinationId: string,
  deps: RedeliverDeps,
): Promise<Omit<RedeliveryResult['destinations'][number], 'destination'>> {
  const outcome = await retryOnConflict(async () => {
    const row = await deps.deliveries.get(jobId, destinationId);
    if (!row) return { action: 'queued' as const, attempt: 0 };
    if (row.status === 'delivered') return { action: 'already_delivered' as const, previousStatus: row.status };
    if (leaseHeld(row)) return { action: 'in_progress' as const, previousStatus: row.status };
    if (row.status === 'retrying' && !row.leaseUntil)
      return { action: 'queued' as const, previousStatus: row.status, attempt: row.attempts };
    // failed, or delivering with a lease that ran out: deliverable again, its history kept.
    const reset = await deps.deliveries.update(row, { status: 'retrying', leaseUntil: undefined });
    return reset ? { action: 'queued' as const, previousStatus: row.status, attempt: row.attempts } : CONFLICT;
  });
  // Changed by others five times over: a worker is on it.
  if (outcome === CONFLICT) return { action: 'in_progress' };
  const { attempt, ...result } = outcome;
  if (attempt !== undefined) {
    await noteAttempt(deps, {
      jobId,
      destinationId,
      kind: 'redelivery',
      attempt,
      at: new Date(),
      outcome: 'retrying',
      message: result.previousStatus ? `Delivery asked for again (it was ${result.previousStatus}).` : 'Delivery asked for again.',
    });
  }
  return result;
}
