import type { DeliveryErrorCode } from '../errors';
import { odata, type TableClient } from '@azure/data-tables';
import { once, unlessStatus } from './clients';

export const DELIVERIES_TABLE = 'deliveries';

/** `delivering` is a lease held by one worker until `leaseUntil`. */
export type DeliveryStatus = 'delivering' | 'retrying' | 'delivered' | 'failed';

export interface Delivery {
  jobId: string;
  destinationId: string;
  status: DeliveryStatus;
  attempts: number;
  remoteId?: string;
  /** Why it failed, or why it is retried: a code of shared/errors/catalog.ts (for scripts). */
  code?: DeliveryErrorCode;
  /** Why it failed, in words (for an administrator; never a token). */
  lastError?: string;
  leaseUntil?: Date;
  updatedAt: Date;
  etag: string;
}

/** True when a worker holds the row: `delivering` with a lease still in the future. */
export function leaseHeld(row: Delivery | undefined, now = Date.now()): boolean {
  return row?.status === 'delivering' && !!row.leaseUntil && row.leaseUntil.getTime() > now;
}

export type DeliveryChanges = Partial<Pick<Delivery, 'status' | 'attempts' | 'remoteId' | 'code' | 'lastError' | 'leaseUntil'>>;

/** One row per (job, destination) in `deliveries`: the record that makes delivery idempotent. */
export class DeliveryRepository {
  private readonly ready: () => Promise<void>;

  constructor(private readonly table: TableClient) {
    this.ready = once(() => table.createTable());
  }

  async get(jobId: string, destinationId: string): Promise<Delivery | undefined> {
    await this.ready();
    const e = await unlessStatus(this.table.getEntity<Record<string, unknown>>(jobId, destinationId), 404);
    return e && fromEntity(e);
  }

  async list(jobId: string): Promise<Delivery[]> {
    await this.ready();
    const out: Delivery[] = [];
    const filter = odata`PartitionKey eq ${jobId}`;
    for await (const e of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) {
      out.push(fromEntity(e));
    }
    return out;
  }

  /** Creates the row (undefined when another worker created it first). */
  async create(jobId: string, destinationId: string, changes: DeliveryChanges): Promise<Delivery | undefined> {
    await this.ready();
    const row = { jobId, destinationId, status: 'delivering' as const, attempts: 0, updatedAt: new Date(), ...changes };
    const res = await unlessStatus(this.table.createEntity(toEntity(row)), 409);
    return res && { ...row, etag: res.etag! };
  }

  /** Applies changes if the row is unchanged since it was read (undefined on a conflict). */
  async update(current: Delivery, changes: DeliveryChanges): Promise<Delivery | undefined> {
    const next = { ...current, ...changes, updatedAt: new Date() };
    const res = await unlessStatus(this.table.updateEntity(toEntity(next), 'Replace', { etag: current.etag }), 412, 404);
    return res && { ...next, etag: res.etag! };
  }
}

function toEntity(d: Omit<Delivery, 'etag'>) {
  return {
    partitionKey: d.jobId,
    rowKey: d.destinationId,
    status: d.status,
    attempts: d.attempts,
    remoteId: d.remoteId,
    code: d.code,
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
    code: (e.code as DeliveryErrorCode | undefined) || undefined,
    lastError: e.lastError as string | undefined,
    leaseUntil: e.leaseUntil ? new Date(e.leaseUntil as string) : undefined,
    updatedAt: new Date(e.updatedAt as string),
    etag: e.etag,
  };
}
