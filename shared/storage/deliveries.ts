import type { TableClient } from '@azure/data-tables';
import { hasStatus, once } from './clients';

export const DELIVERIES_TABLE = 'deliveries';

/** `delivering` is a lease held by one worker until `leaseUntil`. */
export type DeliveryStatus = 'delivering' | 'retrying' | 'delivered' | 'failed';

export interface Delivery {
  jobId: string;
  destinationId: string;
  status: DeliveryStatus;
  attempts: number;
  remoteId?: string;
  /** Why it failed (for an administrator; never a token). */
  lastError?: string;
  leaseUntil?: Date;
  updatedAt: Date;
  etag: string;
}

export type DeliveryChanges = Partial<Pick<Delivery, 'status' | 'attempts' | 'remoteId' | 'lastError' | 'leaseUntil'>>;

/** One row per (job, destination) in `deliveries`: the record that makes delivery idempotent. */
export class DeliveryRepository {
  private readonly ready: () => Promise<void>;

  constructor(private readonly table: TableClient) {
    this.ready = once(() => table.createTable());
  }

  async get(jobId: string, destinationId: string): Promise<Delivery | undefined> {
    await this.ready();
    try {
      return fromEntity(await this.table.getEntity<Record<string, unknown>>(jobId, destinationId));
    } catch (err) {
      if (hasStatus(err, 404)) return undefined;
      throw err;
    }
  }

  async list(jobId: string): Promise<Delivery[]> {
    await this.ready();
    const out: Delivery[] = [];
    const filter = `PartitionKey eq '${jobId.replace(/'/g, "''")}'`;
    for await (const e of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) {
      out.push(fromEntity(e as Record<string, unknown> & { etag: string }));
    }
    return out;
  }

  /** Creates the row (undefined when another worker created it first). */
  async create(jobId: string, destinationId: string, changes: DeliveryChanges): Promise<Delivery | undefined> {
    await this.ready();
    const row = { jobId, destinationId, status: 'delivering' as const, attempts: 0, updatedAt: new Date(), ...changes };
    try {
      const res = await this.table.createEntity(toEntity(row));
      return { ...row, etag: res.etag! };
    } catch (err) {
      if (hasStatus(err, 409)) return undefined;
      throw err;
    }
  }

  /** Applies changes if the row is unchanged since it was read (undefined on a conflict). */
  async update(current: Delivery, changes: DeliveryChanges): Promise<Delivery | undefined> {
    const next = { ...current, ...changes, updatedAt: new Date() };
    try {
      const res = await this.table.updateEntity(toEntity(next), 'Replace', { etag: current.etag });
      return { ...next, etag: res.etag! };
    } catch (err) {
      if (hasStatus(err, 412) || hasStatus(err, 404)) return undefined;
      throw err;
    }
  }
}

function toEntity(d: Omit<Delivery, 'etag'>) {
  return {
    partitionKey: d.jobId,
    rowKey: d.destinationId,
    status: d.status,
    attempts: d.attempts,
    remoteId: d.remoteId,
    lastError: d.lastError,
    leaseUntil: d.leaseUntil,
    updatedAt: d.updatedAt,
  };
}

function fromEntity(e: Record<string, unknown> & { etag: string }): Delivery {
  return {
    jobId: e.partitionKey as string,
    destinationId: e.rowKey as string,
    status: e.status as DeliveryStatus,
    attempts: Number(e.attempts ?? 0),
    remoteId: e.remoteId as string | undefined,
    lastError: e.lastError as string | undefined,
    leaseUntil: e.leaseUntil ? new Date(e.leaseUntil as string) : undefined,
    updatedAt: new Date(e.updatedAt as string),
    etag: e.etag,
  };
}
