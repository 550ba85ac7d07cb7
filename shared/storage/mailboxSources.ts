/**
 * The mailbox sources (table `mailboxsources`, PK `source`, RK the source's id): each source's
 * options as JSON, who changed it last and when. Every change carries the row's ETag, so of two
 * administrators editing the same source only the first wins.
 */
import { odata, type TableClient } from '@azure/data-tables';
import type { Actor } from './auditLog';
import { once, unlessStatus } from './clients';
import { CONFLICT, deleteGuarded, writeGuarded, type Conflict } from './conditionalWrite';

export const MAILBOX_SOURCES_TABLE = 'mailboxsources';
const PARTITION = 'source';

export interface StoredMailboxSource {
  id: string;
  /** The options as validated when written (shared/mailbox/source.ts). */
  options: Record<string, unknown>;
  updatedAt: Date;
  updatedBy: Actor;
  etag: string;
}

type Row = { options: string; updatedAt: Date; updatedBy: string };

export class MailboxSourceRepository {
  private readonly ready: () => Promise<void>;

  constructor(private readonly table: TableClient) {
    this.ready = once(() => table.createTable());
  }

  async get(id: string): Promise<StoredMailboxSource | undefined> {
    await this.ready();
    const e = await unlessStatus(this.table.getEntity<Row>(PARTITION, id), 404);
    return e && sourceOf(e);
  }

  /** Every source, by id. */
  async list(): Promise<StoredMailboxSource[]> {
    await this.ready();
    const out: StoredMailboxSource[] = [];
    const filter = odata`PartitionKey eq ${PARTITION}`;
    for await (const e of this.table.listEntities<Row>({ queryOptions: { filter } })) out.push(sourceOf(e));
    return out;
  }

  /**
   * Writes a source: a new one when `etag` is undefined (CONFLICT if the id is taken), else the
   * stored one if unchanged since `etag` (CONFLICT when it changed or is gone).
   */
  async put(id: string, options: Record<string, unknown>, actor: Actor, etag: string | undefined): Promise<StoredMailboxSource | Conflict> {
    await this.ready();
    const at = new Date();
    const entity = {
      partitionKey: PARTITION,
      rowKey: id,
      options: JSON.stringify(options),
      updatedAt: at,
      updatedBy: JSON.stringify(actor),
    };
    const written = await writeGuarded(this.table, entity, etag);
    return written === CONFLICT ? CONFLICT : { id, options, updatedAt: at, updatedBy: actor, etag: written };
  }

  /** Deletes a source if unchanged since `etag`; CONFLICT when it changed, false when it was gone. */
  async delete(id: string, etag: string): Promise<boolean | Conflict> {
    await this.ready();
    return deleteGuarded(this.table, PARTITION, id, etag);
  }
}

function sourceOf(e: Row & { rowKey?: string; etag: string }): StoredMailboxSource {
  return {
    id: e.rowKey!,
    options: JSON.parse(e.options) as Record<string, unknown>,
    updatedAt: new Date(e.updatedAt),
    updatedBy: JSON.parse(e.updatedBy) as Actor,
    etag: e.etag,
  };
}
