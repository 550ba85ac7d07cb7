import { createHash } from 'node:crypto';
import type { TableClient } from '@azure/data-tables';
import { PayloadTooLargeError } from '../errors';
import { entityBytes, packText, unpackText } from './chunks';
import { hasStatus, once, unlessStatus } from './clients';

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

/** `pending` while a job is being written; `stored` once blobs, record and queue message exist. */
export type ScanJobStatus = 'pending' | 'stored';

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

  /** Writes a new job record; returns its ETag. */
  async create(job: ScanJob): Promise<string> {
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
    const res = await this.jobs.createEntity(entity);
    return res.etag!;
  }

  /** Records the job's delivery outcome (`delivered`, `partially_failed`, `failed`, `undeliverable`...). */
  async setDeliveryState(jobId: string, state: string, reason?: string): Promise<void> {
    await this.jobs.updateEntity({ partitionKey: jobId, rowKey: 'job', deliveryState: state, deliveryReason: reason ?? '' }, 'Merge');
  }

  /** Marks a pending job stored, only if nobody changed it since `etag`. */
  async markStored(jobId: string, etag: string): Promise<void> {
    await this.jobs.updateEntity({ partitionKey: jobId, rowKey: 'job', status: 'stored' }, 'Merge', { etag });
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
      };
    } catch (err) {
      if (hasStatus(err, 404)) return undefined;
      throw err;
    }
  }

  async delete(jobId: string): Promise<void> {
    await unlessStatus(this.jobs.deleteEntity(jobId, 'job'), 404);
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

  async completeClaim(scanJobId: string, etag: string): Promise<void> {
    await this.keys.updateEntity({ partitionKey: keyOf(scanJobId), rowKey: '', status: 'stored' }, 'Merge', { etag });
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
