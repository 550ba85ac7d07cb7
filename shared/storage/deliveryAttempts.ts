import { randomBytes } from 'node:crypto';
import { odata, type TableClient } from '@azure/data-tables';
import type { DeliveryErrorCode } from '../errors';
import { once } from './clients';

export const DELIVERY_ATTEMPTS_TABLE = 'deliveryattempts';

/**
 * What happened to a (job, destination), one entry per event:
 * - `attempt`: a connector ran, from `startedAt` to `endedAt`; `outcome` is the state it left
 *   (`delivered`, `retrying` after a transient failure, `failed` for good);
 * - `interrupted`: the worker running attempt `attempt` stopped (crash, restart), found when its
 *   lease ran out and another worker took over, or when the poison handler gave up (`failed`);
 * - `redelivery`: an administrator asked for it again (`retrying`).
 */
export type AttemptKind = 'attempt' | 'interrupted' | 'redelivery';

export interface DeliveryAttempt {
  jobId: string;
  destinationId: string;
  kind: AttemptKind;
  /** The deliveries row's attempt count this entry is about. */
  attempt: number;
  /** When it happened (for an attempt: when the connector started). */
  at: Date;
  endedAt?: Date;
  durationMs?: number;
  outcome: 'delivered' | 'retrying' | 'failed';
  code?: DeliveryErrorCode;
  /** In words, for an administrator (never a token). */
  message?: string;
  remoteId?: string;
}

/**
 * The delivery timeline (`deliveryattempts`): PK jobId, RK the time in ms (13 digits) and a
 * random suffix, so a job's entries read in order with one partition query. Entries are only
 * ever added; the `deliveries` row stays the record of where each destination stands.
 */
export class DeliveryAttemptRepository {
  private readonly ready: () => Promise<void>;

  constructor(private readonly table: TableClient) {
    this.ready = once(() => table.createTable());
  }

  async add(entry: DeliveryAttempt): Promise<void> {
    await this.ready();
    await this.table.createEntity({
      partitionKey: entry.jobId,
      rowKey: `${String(entry.at.getTime()).padStart(13, '0')}-${randomBytes(4).toString('hex')}`,
      destinationId: entry.destinationId,
      kind: entry.kind,
      attempt: entry.attempt,
      at: entry.at,
      endedAt: entry.endedAt,
      durationMs: entry.durationMs,
      outcome: entry.outcome,
      code: entry.code,
      message: entry.message?.slice(0, 1000),
      remoteId: entry.remoteId?.slice(0, 4000),
    });
  }

  /** Every entry of a job, oldest first. */
  async list(jobId: string): Promise<DeliveryAttempt[]> {
    await this.ready();
    const out: DeliveryAttempt[] = [];
    const filter = odata`PartitionKey eq ${jobId}`;
    for await (const e of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) {
      out.push({
        jobId,
        destinationId: e.destinationId as string,
        kind: e.kind as AttemptKind,
        attempt: Number(e.attempt ?? 0),
        at: new Date(e.at as string),
        endedAt: e.endedAt ? new Date(e.endedAt as string) : undefined,
        durationMs: typeof e.durationMs === 'number' ? e.durationMs : undefined,
        outcome: e.outcome as DeliveryAttempt['outcome'],
        code: (e.code as DeliveryErrorCode | undefined) || undefined,
        message: (e.message as string | undefined) || undefined,
        remoteId: (e.remoteId as string | undefined) || undefined,
      });
    }
    return out;
  }
}
