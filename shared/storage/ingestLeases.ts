import type { TableClient } from '@azure/data-tables';
import { once, unlessStatus } from './clients';

export const INGEST_LEASES_TABLE = 'ingestleases';

/**
 * One row per request that is storing a job's files (`ingestleases`, PK jobId): the owner's
 * lease, renewed while the request lives and deleted once the job is stored or rolled back.
 * A row whose lease ran out belongs to a request that died; the ingest sweeper removes what it
 * left. The table holds only requests in flight, so the sweeper reads it whole.
 */
export interface IngestLease {
  jobId: string;
  /** The job's scanJobID once known: the claim the sweeper releases. */
  scanJobId?: string;
  leaseUntil: Date;
  startedAt: Date;
  etag: string;
}

export class IngestLeaseRepository {
  private readonly ready: () => Promise<void>;

  constructor(private readonly table: TableClient) {
    this.ready = once(() => table.createTable());
  }

  async create(jobId: string, leaseUntil: Date, scanJobId?: string): Promise<IngestLease> {
    await this.ready();
    const startedAt = new Date();
    const res = await this.table.createEntity({ partitionKey: jobId, rowKey: 'lease', leaseUntil, startedAt, scanJobId });
    return { jobId, scanJobId, leaseUntil, startedAt, etag: res.etag! };
  }

  async get(jobId: string): Promise<IngestLease | undefined> {
    await this.ready();
    const e = await unlessStatus(this.table.getEntity<Record<string, unknown>>(jobId, 'lease'), 404);
    return e && fromEntity(e);
  }

  async list(): Promise<IngestLease[]> {
    await this.ready();
    const out: IngestLease[] = [];
    for await (const e of this.table.listEntities<Record<string, unknown>>()) out.push(fromEntity(e));
    return out;
  }

  /** Extends a lease we hold; undefined when it changed since (taken by the sweeper) or is gone. */
  async renew(lease: IngestLease, leaseUntil: Date, scanJobId = lease.scanJobId): Promise<IngestLease | undefined> {
    const res = await unlessStatus(
      this.table.updateEntity(
        { partitionKey: lease.jobId, rowKey: 'lease', leaseUntil, startedAt: lease.startedAt, scanJobId },
        'Replace',
        { etag: lease.etag },
      ),
      412,
      404,
    );
    return res && { ...lease, scanJobId, leaseUntil, etag: res.etag! };
  }

  /** Deletes a lease, only if unchanged since it was read (false when it changed or is gone). */
  async delete(lease: IngestLease): Promise<boolean> {
    return (await unlessStatus(this.table.deleteEntity(lease.jobId, 'lease', { etag: lease.etag }), 412, 404)) !== undefined;
  }
}

function fromEntity(e: Record<string, unknown> & { etag: string }): IngestLease {
  return {
    jobId: e.partitionKey as string,
    scanJobId: (e.scanJobId as string | undefined) || undefined,
    leaseUntil: new Date(e.leaseUntil as string),
    startedAt: new Date(e.startedAt as string),
    etag: e.etag,
  };
}
