/**
 * What ScanRelay keeps of each mailbox source's reading (table `mailboxstate`):
 * - PK `subscription`, RK the Graph subscription's id: its source, expiry, and the SHA-256 of its
 *   clientState (the clientState itself, a random secret sent to Graph once, is never stored:
 *   a notification's clientState is hashed and compared in constant time);
 * - PK `delta`, RK the source's id: the folder's delta link (./deltaLinks.ts), stored only after
 *   its round was queued, ETag-guarded (an older run cannot move it backwards);
 * - PK `status`, RK the source's id: the last reading and the last problem, for the console.
 */
import { odata, type TableClient } from '@azure/data-tables';
import { once, unlessStatus } from './clients';
import { DeltaLinkRepository } from './deltaLinks';

export const MAILBOX_STATE_TABLE = 'mailboxstate';

export interface MailboxSubscription {
  subscriptionId: string;
  sourceId: string;
  /** The Graph resource it watches (`users/…/mailFolders/…/messages`). */
  resource: string;
  expiresAt: Date;
  /** Hex SHA-256 of the clientState. */
  clientStateHash: string;
  createdAt: Date;
  etag: string;
}

export interface MailboxStatus {
  sourceId: string;
  /** The last complete delta round. */
  lastReadAt?: Date;
  /** The last problem reading the mailbox or keeping its subscription, and when. */
  problem?: string;
  problemAt?: Date;
}

export class MailboxStateRepository {
  private readonly ready: () => Promise<void>;
  /** Each source's folder delta link (RK the source's id, `scope` the folder's id: another folder starts a new round). */
  readonly deltaLinks: DeltaLinkRepository;

  constructor(private readonly table: TableClient) {
    this.ready = once(() => table.createTable());
    this.deltaLinks = new DeltaLinkRepository(table);
  }

  // ---- subscriptions

  async subscription(subscriptionId: string): Promise<MailboxSubscription | undefined> {
    await this.ready();
    const e = await unlessStatus(this.table.getEntity<Record<string, unknown>>('subscription', subscriptionId), 404);
    return e && subscriptionOf(e);
  }

  /** Every subscription (a few per source at most). */
  async subscriptions(): Promise<MailboxSubscription[]> {
    await this.ready();
    const out: MailboxSubscription[] = [];
    const filter = odata`PartitionKey eq ${'subscription'}`;
    for await (const e of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) out.push(subscriptionOf(e));
    return out;
  }

  async saveSubscription(s: Omit<MailboxSubscription, 'etag'>): Promise<void> {
    await this.ready();
    await this.table.upsertEntity(
      {
        partitionKey: 'subscription',
        rowKey: s.subscriptionId,
        sourceId: s.sourceId,
        resource: s.resource,
        expiresAt: s.expiresAt,
        clientStateHash: s.clientStateHash,
        createdAt: s.createdAt,
      },
      'Replace',
    );
  }

  async removeSubscription(subscriptionId: string): Promise<void> {
    await this.ready();
    await unlessStatus(this.table.deleteEntity('subscription', subscriptionId), 404);
  }

  // ---- status

  async status(sourceId: string): Promise<MailboxStatus> {
    await this.ready();
    const e = await unlessStatus(this.table.getEntity<Record<string, unknown>>('status', sourceId), 404);
    const date = (v: unknown) => (v ? new Date(v as string) : undefined);
    return {
      sourceId,
      lastReadAt: date(e?.lastReadAt),
      problem: (e?.problem as string) || undefined,
      problemAt: (e?.problem as string) ? date(e?.problemAt) : undefined,
    };
  }

  /** Records a complete read (clears the problem) or a problem (keeps the last read). Last writer wins: it is a report. */
  async noteStatus(sourceId: string, update: { readAt: Date } | { problem: string }): Promise<void> {
    await this.ready();
    const fields =
      'readAt' in update ? { lastReadAt: update.readAt, problem: '' } : { problem: update.problem.slice(0, 1000), problemAt: new Date() };
    await this.table.upsertEntity({ partitionKey: 'status', rowKey: sourceId, ...fields }, 'Merge');
  }

  /** Forgets a removed source's link and status (its subscriptions are removed one by one). */
  async forget(sourceId: string): Promise<void> {
    await this.ready();
    await Promise.all([
      unlessStatus(this.table.deleteEntity('delta', sourceId), 404),
      unlessStatus(this.table.deleteEntity('status', sourceId), 404),
    ]);
  }
}

function subscriptionOf(e: Record<string, unknown> & { etag: string }): MailboxSubscription {
  return {
    subscriptionId: e.rowKey as string,
    sourceId: e.sourceId as string,
    resource: e.resource as string,
    expiresAt: new Date(e.expiresAt as string),
    clientStateHash: e.clientStateHash as string,
    createdAt: new Date(e.createdAt as string),
    etag: e.etag,
  };
}
