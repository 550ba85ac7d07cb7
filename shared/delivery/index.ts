/**
 * Delivery: the queue-triggered deliverer takes a stored job to every destination its rules
 * select, exactly once per (job, destination): a row in `deliveries` is leased before a
 * connector runs (the lease is renewed while it runs, so it never outlives the worker by more
 * than DELIVERY_LEASE_SECONDS) and records `delivered` (with the remote id) or `failed` (with the
 * reason). Transient failures are retried through the queue (visibility timeout,
 * maxDequeueCount in host.json); after the last attempt the job's record says why and the
 * message goes to poison. A message the host moved to poison without our verdict (the worker
 * died on the last attempt) is delivered again by the poison handler, a bounded number of times.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { keepRenewed } from '../concurrency';
import type { DeliveryErrorCode } from '../errors';
import { describeError, type Logger } from '../log';
import type { Notifier } from '../notifications';
import { events } from '../notifications/events';
import {
  indexEntryOf,
  leaseHeld,
  type Delivery,
  type DeliveryAttemptRepository,
  type DeliveryMessage,
  type DeliveryQueue,
  type DeliveryRepository,
  type JobIndexRepository,
  type ScanBlobStore,
  type ScanJob,
  type ScanJobRepository,
} from '../storage';
import { isDestinationsProblem, type Destination, type DestinationSet } from './destinations';
import { noteAttempt, setJobState } from './jobState';
import { Pacer } from './pacing';
import { targetsOf } from './targets';
import { PermanentDeliveryError, TransientDeliveryError, type DeliveryContext, type DeliveryJob } from './types';
import type { FindUser } from './userFacts';

/** Must equal host.json's extensions.queues.maxDequeueCount (a test checks it). */
export const DELIVERY_MAX_ATTEMPTS = 5;
/** How often a message the host poisoned without our verdict (a worker died) is sent again. */
export const DELIVERY_MAX_RECOVERIES = 3;
/** A job held back by destinations that cannot be used is looked at again this much later. */
export const BLOCKED_RETRY_SECONDS = 300;
/** A job not stored yet when its message arrives: how long to wait for its request to write its record. */
const PENDING_WAIT_MS = 5000;

export interface DelivererDeps {
  scanJobs: Pick<ScanJobRepository, 'get' | 'setDeliveryState'>;
  scanBlobs: Pick<ScanBlobStore, 'download'>;
  deliveries: DeliveryRepository;
  /** The job index, whose rows follow each job's delivery state. */
  jobIndex: Pick<JobIndexRepository, 'upsert'>;
  /** Each (job, destination)'s timeline: every attempt, with its outcome. */
  attempts: Pick<DeliveryAttemptRepository, 'add'>;
  deliveryQueue: Pick<DeliveryQueue, 'enqueue'>;
  /**
   * The destinations in force, read for each job (the stored version: a look at its number, the
   * set read again only when it changed; or the pinned file). Throws a ConfigError or a
   * StoredDestinationsError when they cannot be used: the job is then held.
   */
  destinations: () => DestinationSet | Promise<DestinationSet>;
  context: Omit<DeliveryContext, 'log'>;
  /** The directory's user by userName/UPN, to fill fields the printer did not send. */
  findUser?: FindUser;
  /** True while the request storing a pending job is alive (its ingest lease is current). */
  ingestAlive: (jobId: string) => Promise<boolean>;
  /** The delivery lease's length (DELIVERY_LEASE_SECONDS). */
  leaseMs: number;
  log: Logger;
  /** Tells administrators of a delivery failed for good and of a job given up (shared/notifications). */
  notifier?: Notifier;
  /** Microsoft 365's budgets, shared by the instance's deliverers (pacing.ts); default: Microsoft's limits, this deliverer's own. */
  pacer?: Pick<Pacer, 'take' | 'giveBack' | 'settle' | 'hold'>;
}

export type JobOutcome = 'delivered' | 'partially_failed' | 'failed' | 'undeliverable' | 'blocked' | 'in_progress' | 'skipped';

/** Thrown to make the queue retry the message (the job's record says why). */
export class RetryLaterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RetryLaterError';
  }
}

/** `busyUntil`: another worker holds the destination, or (`paced`) its target has no room in a Microsoft 365 limit until then. */
type Target = 'delivered' | 'failed' | 'retry' | { busyUntil: Date; paced?: boolean };
/** A destination's outcome; `deliveredAt`: when its row became delivered. */
interface Outcome {
  target: Target;
  deliveredAt?: Date;
}

export async function deliverJob(message: unknown, attempt: number, deps: DelivererDeps): Promise<JobOutcome> {
  const jobId = jobIdOf(message);
  if (!jobId) {
    deps.log.warn('deliver: a message without a jobId was dropped');
    return 'skipped';
  }
  const job = await storedJob(jobId, deps);
  if (!job) return 'skipped';

  let destinations: DestinationSet;
  try {
    destinations = await deps.destinations();
  } catch (err) {
    if (!isDestinationsProblem(err)) throw err;
    // Held, not failed: the message comes back once they may have been fixed.
    await setJobState(deps, job, 'blocked', `Delivery is held until the destinations are fixed: ${err.message}`);
    await deps.deliveryQueue.enqueue({ jobId }, { delaySeconds: BLOCKED_RETRY_SECONDS });
    deps.log.error('deliver: held, the destinations are invalid', { jobId, ...describeError(err) });
    return 'blocked';
  }

  const { fields, targets } = await targetsOf(job, destinations, deps);
  if (targets.length === 0) {
    const disabled = destinations.destinations.filter((d) => !d.enabled).length;
    const reason = destinations.destinations.length
      ? `No destination rule selects this job (workflowName '${fields.workflowName ?? ''}')${disabled ? `; ${disabled} disabled destination(s) select none` : ''}.`
      : 'No destinations are configured: create destinations.json (see destinations.example.json) or set DESTINATIONS_FILE to import one, or add them with POST /api/destinations.';
    await setJobState(deps, job, 'undeliverable', reason);
    deps.log.warn('deliver: undeliverable', { jobId });
    return 'undeliverable';
  }

  const deliveryJob = toDeliveryJob({ ...job, fields }, deps);
  const outcomes = await Promise.all(targets.map((d) => deliverTo(deliveryJob, d, attempt, deps)));
  const named = (o: Target) => targets.filter((_, i) => outcomes[i]!.target === o).map((d) => d.id);
  const busyUntil = outcomes.flatMap(({ target: o }) => (typeof o === 'object' ? [o.busyUntil.getTime()] : []));
  const retry = named('retry');
  const delivered = named('delivered').length;
  const failed = named('failed').length;

  if (retry.length) {
    const names = retry.join(', ');
    if (attempt >= DELIVERY_MAX_ATTEMPTS) {
      // The message goes to poison; every destination has its verdict (the retried ones failed).
      await setJobState(deps, job, delivered ? 'partially_failed' : 'failed', `Gave up after ${attempt} attempts: ${names}.`, {
        failedDestinations: [...named('failed'), ...retry],
        poisoned: true,
      });
      throw new RetryLaterError(`Job ${jobId}: ${names} still failing after ${attempt} attempts; the message goes to the poison queue.`);
    }
    await setJobState(deps, job, 'retrying', `Attempt ${attempt} failed for: ${names}.`);
    throw new RetryLaterError(`Job ${jobId}: ${names} will be retried.`);
  }
  // Another worker holds a destination. Its lease is renewed while it lives, so look again once
  // the lease could have run out: by then it is done, or its worker died and the lease is taken
  // over. (Retrying through this message would spend its attempts; dropping it would trust a
  // worker that may be dead, whose own message may be this one.)
  if (busyUntil.length) {
    const delaySeconds = Math.max(1, Math.ceil((Math.max(...busyUntil) - Date.now()) / 1000) + 1);
    // Waiting for a limit's room says so (once: not again on every look while it waits).
    const isPaced = (t: Target) => typeof t === 'object' && t.paced === true;
    const paced = targets.filter((_, i) => isPaced(outcomes[i]!.target));
    if (paced.length && job.deliveryState !== 'paced') {
      const until = new Date(Date.now() + delaySeconds * 1000).toISOString();
      await setJobState(
        deps,
        job,
        'paced',
        `Waiting for room in the Microsoft 365 limits of ${paced.map((d) => d.id).join(', ')} (the sending mailbox's messages or uploads, SharePoint's units, or a Retry-After); next look at ${until}.`,
      );
    }
    await deps.deliveryQueue.enqueue({ jobId, recoveries: (message as DeliveryMessage).recoveries }, { delaySeconds });
    deps.log.info('deliver: a destination is held by another worker or waits for a limit; looking again later', {
      jobId,
      delaySeconds,
    });
    return 'in_progress';
  }
  const state: JobOutcome = failed === 0 ? 'delivered' : delivered ? 'partially_failed' : 'failed';
  // Delivered when the last destination's row became delivered (the same on a repeated message).
  const deliveredAt =
    state === 'delivered' ? new Date(Math.max(...outcomes.map((o) => o.deliveredAt?.getTime() ?? Date.now()))) : undefined;
  await setJobState(deps, job, state, failed ? `${failed} destination(s) failed; see deliveries.` : undefined, {
    deliveredAt,
    failedDestinations: named('failed'),
  });
  deps.log.info('deliver: done', { jobId, delivered, failed });
  return state;
}

function jobIdOf(message: unknown): string | undefined {
  const jobId = (message as { jobId?: unknown } | null)?.jobId;
  return typeof jobId === 'string' && jobId ? jobId : undefined;
}

/** The job when it is stored; undefined when it is gone, abandoned, or its request died. */
async function storedJob(jobId: string, deps: DelivererDeps): Promise<ScanJob | undefined> {
  const deadline = Date.now() + PENDING_WAIT_MS;
  // Its request sends the message just before it writes the job's record, so a deliverer that
  // takes the message at once may find no record for a few milliseconds: unless the request is
  // gone (the job rolled back or removed), it looks again after 20 ms, then twice as long each
  // time up to 250 ms (a fixed 250 ms cost every such job a quarter of a second:
  // docs/benchmarks.md, "stored → connector starts"), and asks again whether the request still
  // lives once it has waited that long.
  let pause = 20;
  let askedAt = Date.now();
  for (let first = true; ; first = false) {
    const job = await deps.scanJobs.get(jobId);
    if (!job && first && !(await deps.ingestAlive(jobId))) {
      deps.log.warn('deliver: no such job (rolled back or removed)', { jobId });
      return undefined;
    }
    if (job?.status === 'stored') return job;
    if (job?.status === 'abandoned') {
      deps.log.warn('deliver: the job was abandoned by its request', { jobId });
      return undefined;
    }
    if (Date.now() - askedAt >= PENDING_CHECK_MS) {
      if (!(await deps.ingestAlive(jobId))) {
        deps.log.warn('deliver: the request storing this job died; the ingest sweeper removes it', { jobId });
        return undefined;
      }
      askedAt = Date.now();
    }
    if (Date.now() > deadline) throw new RetryLaterError(`Job ${jobId} is not stored yet.`);
    await sleep(pause);
    pause = Math.min(pause * 2, PENDING_CHECK_MS);
  }
}

/** How often a deliverer waiting for a pending job asks whether its request still lives (and its longest pause). */
const PENDING_CHECK_MS = 250;

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

/** The deliverers' pacer when their deps bring none (the services bring the configured one). */
const instancePacer = new Pacer();

/**
 * Delivers to one destination unless it is done, another worker holds it, or its target has no
 * room in a Microsoft 365 limit (pacing.ts). A lease that ran out (its worker died) is taken over.
 */
async function deliverTo(job: DeliveryJob, d: Destination, attempt: number, deps: DelivererDeps): Promise<Outcome> {
  // A target whose budget is spent (a mailbox's messages of the minute, SharePoint's units) or
  // that answered Retry-After: this delivery waits for room, trying nothing.
  const charges = d.connector.pace?.(job, d.options) ?? [];
  if (charges.length === 0) return leaseAndDeliver(job, d, attempt, deps);
  const pacer = deps.pacer ?? instancePacer;
  const room = pacer.take(charges);
  if (room) {
    deps.log.info('deliver: the target used its Microsoft 365 budget for now; the delivery waits', {
      jobId: job.jobId,
      destination: d.id,
      until: room.toISOString(),
    });
    return { target: { busyUntil: room, paced: true } };
  }
  let outcome: Awaited<ReturnType<typeof leaseAndDeliver>>;
  try {
    outcome = await leaseAndDeliver(job, d, attempt, deps);
  } catch (err) {
    // Storage failed around the delivery: it may have sent, so its charges count from now.
    pacer.settle(charges);
    throw err;
  }
  if (outcome.sent === false) pacer.giveBack(charges);
  else pacer.settle(charges);
  // Throttled all the same (another app, another instance): the target only waits what it asked.
  if (outcome.throttledFor) pacer.hold(charges, outcome.throttledFor);
  return outcome;
}

async function leaseAndDeliver(
  job: DeliveryJob,
  d: Destination,
  attempt: number,
  deps: DelivererDeps,
): Promise<Outcome & { sent?: false; throttledFor?: number }> {
  const leaseFor = (row?: Delivery) => ({
    status: 'delivering' as const,
    leaseUntil: new Date(Date.now() + deps.leaseMs),
    attempts: (row?.attempts ?? 0) + 1,
  });
  // A message's first delivery finds no row as a rule: the insert comes first (one request, not a
  // read and an insert). A row that is there (the insert's 409) is read and judged as below.
  let held = attempt === 1 ? await deps.deliveries.create(job.jobId, d.id, leaseFor()) : undefined;
  let row: Delivery | undefined;
  if (!held) {
    row = await deps.deliveries.get(job.jobId, d.id);
    if (row?.status === 'delivered') return { target: 'delivered', deliveredAt: row.updatedAt, sent: false };
    if (row?.status === 'failed') return { target: 'failed', sent: false };
    if (leaseHeld(row)) return { target: { busyUntil: row!.leaseUntil! }, sent: false };
    held = row ? await deps.deliveries.update(row, leaseFor(row)) : await deps.deliveries.create(job.jobId, d.id, leaseFor());
    // Another worker took it this instant.
    if (!held) return { target: { busyUntil: new Date(Date.now() + deps.leaseMs) }, sent: false };
  }
  const timeline: Array<Promise<void>> = [];
  if (row?.status === 'delivering') {
    deps.log.warn('deliver: took over a lease that ran out (its worker stopped)', { jobId: job.jobId, destination: d.id });
    timeline.push(
      noteAttempt(deps, {
        jobId: job.jobId,
        destinationId: d.id,
        kind: 'interrupted',
        attempt: row.attempts,
        at: row.updatedAt,
        outcome: 'retrying',
        message: `The worker stopped during attempt ${row.attempts} (its lease ran out at ${row.leaseUntil?.toISOString() ?? 'once'}); attempt ${held.attempts} took over.`,
      }),
    );
  }
  const startedAt = new Date();

  const renewal = keepRenewed(held, {
    everyMs: deps.leaseMs / 3,
    renew: (current) => deps.deliveries.update(current, { leaseUntil: new Date(Date.now() + deps.leaseMs) }),
    expiresAt: (current) => current.leaseUntil?.getTime() ?? 0,
    lost: (why) => new Error(`The lease on ${d.id} was ${why === 'taken' ? 'taken by another worker' : 'not renewed in time'}.`),
  });
  let outcome: { result: Awaited<ReturnType<typeof d.connector.deliver>> } | { err: unknown };
  try {
    outcome = { result: await d.connector.deliver(job, d.options, { ...deps.context, log: deps.log }) };
  } catch (err) {
    outcome = { err };
  } finally {
    await renewal.stop();
  }
  if (renewal.signal.aborted) {
    deps.log.warn('deliver: lost the lease while delivering; another worker may deliver again', { jobId: job.jobId, destination: d.id });
  }
  const current = renewal.current;
  const endedAt = new Date();
  const tried = { jobId: job.jobId, destinationId: d.id, kind: 'attempt', attempt: held.attempts, at: startedAt, endedAt } as const;
  const timed = { ...tried, durationMs: endedAt.getTime() - startedAt.getTime() };
  if ('result' in outcome) {
    const remoteId = outcome.result.remoteId;
    const [done] = await Promise.all([
      deps.deliveries.update(current, { status: 'delivered', remoteId, leaseUntil: undefined, code: undefined, lastError: undefined }),
      noteAttempt(deps, { ...timed, outcome: 'delivered', remoteId }),
      ...timeline,
    ]);
    deps.log.info('deliver: delivered', { jobId: job.jobId, destination: d.id });
    return { target: 'delivered', deliveredAt: done?.updatedAt ?? endedAt };
  }
  const err = outcome.err;
  const reason = describeError(err).message ?? 'error';
  const permanent = err instanceof PermanentDeliveryError;
  const final = permanent || attempt >= DELIVERY_MAX_ATTEMPTS;
  const verdict = {
    status: final ? ('failed' as const) : ('retrying' as const),
    code: deliveryCode(err),
    lastError: (final && !permanent ? `Gave up after ${attempt} attempts: ${reason}` : reason).slice(0, 1000),
  };
  await Promise.all([
    deps.deliveries.update(current, { ...verdict, leaseUntil: undefined }),
    noteAttempt(deps, { ...timed, outcome: verdict.status, code: verdict.code, message: verdict.lastError }),
    ...timeline,
  ]);
  // `final`: no more attempts (the Azure Monitor alert of infra/modules/alerts.bicep matches it).
  deps.log.warn('deliver: failed', { jobId: job.jobId, destination: d.id, permanent, final, attempt, ...describeError(err) });
  if (final && deps.notifier) {
    await deps.notifier.notify(
      events.deliveryFailed(
        { jobId: job.jobId, destination: d.id, attempt, code: verdict.code, reason: verdict.lastError },
        endedAt,
        deps.notifier.links.job(job.jobId),
      ),
    );
    const userEmail = job.fields.userEmail?.trim();
    if (d.notifyUser && userEmail) {
      await deps.notifier.notify(
        events.scanUndeliverable(
          {
            jobId: job.jobId,
            destination: d.id,
            receivedAt: job.receivedAt,
            fileNames: job.files.map((f) => f.name),
            workflowName: job.fields.workflowName,
          },
          endedAt,
        ),
        { channel: d.notifyUser, addresses: [userEmail] },
      );
    }
  }
  const throttledFor = err instanceof TransientDeliveryError && err.code === 'destination_throttled' ? err.retryAfterSeconds : undefined;
  return { target: permanent ? 'failed' : 'retry', throttledFor };
}

/** The catalog code of a connector's failure; an error of no known kind is an internal one. */
export function deliveryCode(err: unknown): DeliveryErrorCode {
  if (err instanceof PermanentDeliveryError || err instanceof TransientDeliveryError) return err.code;
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'reauthorization_required' || code === 'connection_not_found' ? code : 'internal_error';
}

/**
 * A message in the poison queue. Our own last attempt records every destination's verdict
 * before it gives up; a destination left without one means the host gave up for us, because
 * the worker died while delivering on the last attempt (a crash, a restart, a lost instance).
 * Such a job is sent again, at most DELIVERY_MAX_RECOVERIES times; after that its unfinished
 * destinations fail, saying why and how to deliver them again.
 */
export async function handlePoisoned(message: unknown, deps: DelivererDeps): Promise<'recovered' | 'failed' | 'done'> {
  const jobId = jobIdOf(message);
  if (!jobId) return 'done';
  const job = await deps.scanJobs.get(jobId);
  if (job?.status !== 'stored') return 'done';
  let set: DestinationSet;
  try {
    set = await deps.destinations();
  } catch (err) {
    if (!isDestinationsProblem(err)) throw err;
    return 'done'; // held: the blocked job's own message comes back
  }
  const { targets } = await targetsOf(job, set, deps);
  const unfinished: Array<{ d: Destination; row?: Delivery }> = [];
  const failedBefore: string[] = [];
  let busy = false;
  for (const d of targets) {
    const row = await deps.deliveries.get(jobId, d.id);
    if (row?.status === 'failed') failedBefore.push(d.id);
    // A live lease: a worker is on it, with a message of its own.
    busy ||= leaseHeld(row);
    if (row?.status !== 'delivered' && row?.status !== 'failed' && !leaseHeld(row)) unfinished.push({ d, row });
  }
  if (unfinished.length === 0) {
    // The record holds the verdict. Its index row is written again from it (marked poisoned), in
    // case the last attempt's index write failed; not while a worker is on it (it writes its own).
    if (!busy) await deps.jobIndex.upsert({ ...indexEntryOf(job), failedDestinations: failedBefore, poisoned: true });
    return 'done';
  }
  const recoveries = Number((message as DeliveryMessage).recoveries ?? 0);
  if (recoveries < DELIVERY_MAX_RECOVERIES) {
    await setJobState(
      deps,
      job,
      'retrying',
      `The worker stopped during the last attempt; delivering again (${recoveries + 1} of ${DELIVERY_MAX_RECOVERIES}).`,
      { poisoned: true },
    );
    await deps.deliveryQueue.enqueue({ jobId, recoveries: recoveries + 1 });
    deps.log.warn('deliver: a job the host poisoned after its worker stopped is sent again', { jobId, recoveries: recoveries + 1 });
    return 'recovered';
  }
  const reason = `The worker stopped while delivering, ${DELIVERY_MAX_RECOVERIES + 1} times in a row (crash or restart); deliver it again with POST /api/scan/${jobId}/redeliver once the cause is fixed.`;
  for (const { d, row } of unfinished) {
    const changes = { status: 'failed', leaseUntil: undefined, code: 'delivery_interrupted', lastError: reason } as const;
    await Promise.all([
      row ? deps.deliveries.update(row, changes) : deps.deliveries.create(jobId, d.id, changes),
      noteAttempt(deps, {
        jobId,
        destinationId: d.id,
        kind: 'interrupted',
        attempt: row?.attempts ?? 0,
        at: new Date(),
        outcome: 'failed',
        code: 'delivery_interrupted',
        message: reason,
      }),
    ]);
  }
  const delivered = targets.length > unfinished.length + failedBefore.length;
  await setJobState(deps, job, delivered ? 'partially_failed' : 'failed', reason, {
    failedDestinations: [...failedBefore, ...unfinished.map((u) => u.d.id)],
    poisoned: true,
  });
  deps.log.error('deliver: gave up on a job whose worker kept stopping', { jobId });
  await deps.notifier?.notify(events.jobPoisoned(jobId, new Date(), deps.notifier.links.job(jobId)));
  return 'failed';
}

export * from './destinations';
export { setJobState, type JobStateMarks } from './jobState';
export * from './redeliver';
export { jobStatus } from './status';
export * from './targets';
export * from './template';
export * from './types';
export { withDirectoryFacts, type FindUser } from './userFacts';
export { CONNECTORS } from './connectors';
export { graphFor } from './graph';
export { renderOptionTables, renderSchemaTable } from './optionsDoc';
export { optionFields, schemaFields, type OptionField, type OptionKind } from './optionFields';
