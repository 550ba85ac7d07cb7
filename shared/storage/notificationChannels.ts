/**
 * The notification channels (table `notificationchannels`, PK `channel`, RK the channel's id):
 * each channel's options as JSON, its webhook URL sealed apart (encrypted by the caller: the
 * URL is a credential), who changed it last and when. Every change carries the row's ETag.
 */
import { odata, type TableClient } from '@azure/data-tables';
import type { Actor } from './auditLog';
import { once, unlessStatus } from './clients';
import { CONFLICT, deleteGuarded, writeGuarded, type Conflict } from './conditionalWrite';

export const NOTIFICATION_CHANNELS_TABLE = 'notificationchannels';
const PARTITION = 'channel';

export interface StoredChannel {
  id: string;
  /** The options as validated when written, without the URL (shared/notifications/channel.ts). */
  options: Record<string, unknown>;
  /** The webhook URL, encrypted. */
  urlSealed?: string;
  updatedAt: Date;
  updatedBy: Actor;
  etag: string;
}

type Row = { options: string; urlSealed?: string; updatedAt: Date; updatedBy: string };

export class NotificationChannelRepository {
  private readonly ready: () => Promise<void>;

  constructor(private readonly table: TableClient) {
    this.ready = once(() => table.createTable());
  }

  async get(id: string): Promise<StoredChannel | undefined> {
    await this.ready();
    const e = await unlessStatus(this.table.getEntity<Row>(PARTITION, id), 404);
    return e && channelOf(e);
  }

  /** Every channel, by id. */
  async list(): Promise<StoredChannel[]> {
    await this.ready();
    const out: StoredChannel[] = [];
    const filter = odata`PartitionKey eq ${PARTITION}`;
    for await (const e of this.table.listEntities<Row>({ queryOptions: { filter } })) out.push(channelOf(e));
    return out;
  }

  /** A new channel when `etag` is undefined (CONFLICT if the id is taken), else the stored one if unchanged since `etag`. */
  async put(
    id: string,
    channel: { options: Record<string, unknown>; urlSealed?: string },
    actor: Actor,
    etag: string | undefined,
  ): Promise<StoredChannel | Conflict> {
    await this.ready();
    const at = new Date();
    const entity = {
      partitionKey: PARTITION,
      rowKey: id,
      options: JSON.stringify(channel.options),
      urlSealed: channel.urlSealed,
      updatedAt: at,
      updatedBy: JSON.stringify(actor),
    };
    const written = await writeGuarded(this.table, entity, etag);
    return written === CONFLICT
      ? CONFLICT
      : { id, options: channel.options, urlSealed: channel.urlSealed, updatedAt: at, updatedBy: actor, etag: written };
  }

  /** Deletes a channel if unchanged since `etag`; CONFLICT when it changed, false when it was gone. */
  async delete(id: string, etag: string): Promise<boolean | Conflict> {
    await this.ready();
    return deleteGuarded(this.table, PARTITION, id, etag);
  }
}

function channelOf(e: Row & { rowKey?: string; etag: string }): StoredChannel {
  return {
    id: e.rowKey!,
    options: JSON.parse(e.options) as Record<string, unknown>,
    ...(e.urlSealed ? { urlSealed: e.urlSealed } : {}),
    updatedAt: new Date(e.updatedAt),
    updatedBy: JSON.parse(e.updatedBy) as Actor,
    etag: e.etag,
  };
}
