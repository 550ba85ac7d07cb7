import { createHash } from 'node:crypto';
import type { TableClient } from '@azure/data-tables';
import { PayloadTooLargeError, type JobDeliveryState } from '../errors';
import { entityBytes, packText, unpackText } from './chunks';
import { hasStatus, once, unlessStatus } from './clients';
import { CONFLICT, retryOnConflict } from './conditionalWrite';

export const SCAN_JOBS_TABLE = 'scanjobs';
export const SCAN_JOB_KEYS_TABLE = 'scanjobkeys';

export interface StoredFile {
  /** The multipart field name the file came in (`file1`, `filename`, ...). */
  field: string;
  /** The sender's file name, verbatim (metadata only). */
  name: string;
  /** The type ScanRelay recognised from the bytes, else the declared type. */
  contentType: string;
  /** The Content-Type the sender declared for the part. */
  declaredContentType: string;
  size: number;
  sha256: string;
  blobName: string;
}

/**
 * `stored`: a job's record is its last write, after its blobs, its claim and its queue message
 * (shared/ingest). `abandoned` when its request died before that and the ingest sweeper removed
 * what it left (the record stays as a tombstone, so that a request that comes back late cannot
 * store it). `pending` is a claim's status while its job is being written, and the status of a
 * record written first by earlier versions, which then marked it stored.
 */
export type ScanJobStatus = 'pending' | 'stored' | 'abandoned';

export interface ScanJob {
  jobId: string;
  status: ScanJobStatus;
  scanJobId?: string;
  receivedAt: Date;
  senderAddress?: string;
  /** Every text field as sent (the shared secret field excluded). */
  fields: Record<string, string>;
  files: StoredFile[];
  deliveryState?: string;
  deliveryReason?: string;
  /** When the job became delivered to every destination its rules select. */
  deliveredAt?: Date;
}

export interface JobKeyClaim {
  jobId: string;
  status: ScanJobStatus;
  claimedAt: Date;
  etag: string;
}

export type ClaimResult = { claimed: true; etag: string } | { claimed: false; existing: JobKeyClaim };

const ENTITY_BUDGET_BYTES = 900 * 1024;

/**
 * Scan-job records (`scanjobs`, one entity per job) and the scanJobID idempotency keys
 * (`scanjobkeys`, one entity per scanJobID, created with an insert that fails on a duplicate).
 */
export class ScanJobRepository {
  private readonly ready: () => Promise<void>;

  constructor(
    private readonly jobs: TableClient,
    private readonly keys: TableClient,
  ) {
    this.ready = once(() => Promise.all([jobs.createTable(), keys.createTable()]));
  }

  /** Writes a new job record; returns its ETag, or undefined when the job id is taken (abandoned). */
  async create(job: ScanJob): Promise<string | undefined> {
    await this.ready();
    const entity = {
      partitionKey: job.jobId,
      rowKey: 'job',
      status: job.status,
      scanJobId: job.scanJobId,
      receivedAt: job.receivedAt,
      senderAddress: job.senderAddress,
      fileCount: job.files.length,
      totalBytes: job.files.reduce((n, f) => n + f.size, 0),
      ...packText('fields', JSON.stringify(job.fields)),
      ...packText('files', JSON.stringify(job.files)),
    };
    if (entityBytes(entity) > ENTITY_BUDGET_BYTES) {
      throw new PayloadTooLargeError(
        'fields_too_large',
        'The scan variables together are too large to store; send fewer or shorter text fields.',
      );
    }
    const res = await unlessStatus(this.jobs.createEntity(entity), 409);
    return res?.etag;
  }

  /**
   * Records the job's delivery outcome (`delivered`, `partially_failed`, `failed`, `undeliverable`...),
   * and when it became delivered. shared/delivery's setJobState writes the job index beside it.
   */
  async setDeliveryState(jobId: string, state: JobDeliveryState, reason?: string, deliveredAt?: Date): Promise<void> {
    await this.jobs.updateEntity(
      { partitionKey: jobId, rowKey: 'job', deliveryState: state, deliveryReason: reason ?? '', deliveredAt },
      'Merge',
    );
  }

  /**
   * Makes sure a job that its request left unfinished can never become stored: a pending record
   * becomes `abandoned`, a missing one is written as an `abandoned` tombstone. Answers what the
   * job is now: `stored` (its request finished after all: leave it) or `abandoned`.
   */
  async abandon(jobId: string, receivedAt: Date): Promise<'stored' | 'abandoned'> {
    await this.ready();
    const outcome = await retryOnConflict(async () => {
      const e = await unlessStatus(
        this.jobs.getEntity<Record<string, unknown>>(jobId, 'job', { queryOptions: { select: ['status'] } }),
        404,
      );
      if (e?.status === 'stored' || e?.status === 'abandoned') return e.status;
      const done = e
        ? await unlessStatus(
            this.jobs.updateEntity({ partitionKey: jobId, rowKey: 'job', status: 'abandoned' }, 'Merge', { etag: e.etag }),
            412,
            404,
          )
        : await unlessStatus(
            this.jobs.createEntity({
              partitionKey: jobId,
              rowKey: 'job',
              status: 'abandoned',
              receivedAt,
              fileCount: 0,
              totalBytes: 0,
              ...packText('fields', '{}'),
              ...packText('files', '[]'),
            }),
            409,
          );
      return done ? ('abandoned' as const) : CONFLICT;
    });
    if (outcome === CONFLICT) throw new Error(`The record of job ${jobId} kept changing; the sweeper tries again.`);
    return outcome;
  }

  async get(jobId: string): Promise<ScanJob | undefined> {
    await this.ready();
    try {
      const e = await this.jobs.getEntity<Record<string, unknown>>(jobId, 'job');
      return {
        jobId,
        status: e.status as ScanJobStatus,
        scanJobId: e.scanJobId as string | undefined,
        receivedAt: new Date(e.receivedAt as string | Date),
        senderAddress: e.senderAddress as string | undefined,
        fields: JSON.parse(unpackText('fields', e)) as Record<string, string>,
        files: JSON.parse(unpackText('files', e)) as StoredFile[],
        deliveryState: (e.deliveryState as string | undefined) || undefined,
        deliveryReason: (e.deliveryReason as string | undefined) || undefined,
        deliveredAt: e.deliveredAt ? new Date(e.deliveredAt as string | Date) : undefined,
      };
    } catch (err) {
      if (hasStatus(err, 404)) return undefined;
      throw err;
    }
  }

  /** Claims a scanJobID for a job; fails (returning the holder) when another job holds it. */
  async claim(scanJobId: string, jobId: string): Promise<ClaimResult> {
    await this.ready();
    try {
      const res = await this.keys.createEntity({
        partitionKey: keyOf(scanJobId),
        rowKey: '',
        scanJobId,
        jobId,
        status: 'pending',
        claimedAt: new Date(),
      });
      return { claimed: true, etag: res.etag! };
    } catch (err) {
      if (!hasStatus(err, 409)) throw err;
    }
    const existing = await this.getClaim(scanJobId);
    // The holder released it between our insert and read: try once more.
    if (!existing) return this.claim(scanJobId, jobId);
    return { claimed: false, existing };
  }

  async getClaim(scanJobId: string): Promise<JobKeyClaim | undefined> {
    const e = await unlessStatus(this.keys.getEntity<Record<string, unknown>>(keyOf(scanJobId), ''), 404);
    return (
      e && {
        jobId: e.jobId as string,
        status: e.status as ScanJobStatus,
        claimedAt: new Date(e.claimedAt as string | Date),
        etag: e.etag,
      }
    );
  }

  /** Takes over a stale claim; false when it changed since it was read. */
  async takeOver(scanJobId: string, stale: JobKeyClaim, jobId: string): Promise<string | undefined> {
    const res = await unlessStatus(
      this.keys.updateEntity(
        { partitionKey: keyOf(scanJobId), rowKey: '', scanJobId, jobId, status: 'pending', claimedAt: new Date() },
        'Replace',
        { etag: stale.etag },
      ),
      412,
      404,
    );
    return res?.etag;
  }

  /** Marks a claim stored, only if unchanged since `etag` (false when it changed or is gone). */
  async completeClaim(scanJobId: string, etag: string): Promise<boolean> {
    const res = await unlessStatus(
      this.keys.updateEntity({ partitionKey: keyOf(scanJobId), rowKey: '', status: 'stored' }, 'Merge', { etag }),
      412,
      404,
    );
    return res !== undefined;
  }

  /** Releases a claim we hold (ETag-guarded, so a claim someone took over is left alone). */
  async releaseClaim(scanJobId: string, etag: string): Promise<void> {
    await unlessStatus(this.keys.deleteEntity(keyOf(scanJobId), '', { etag }), 404, 412);
  }
}

/** Table keys may not hold `/ \ # ?` or control characters: key a scanJobID by its hash. */
function keyOf(scanJobId: string): string {
  return createHash('sha256').update(scanJobId, 'utf8').digest('hex');
}
