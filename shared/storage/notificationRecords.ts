/**
 * What became of each notification event (table `notifications`): PK `event`, RK the event's id
 * (one row per event: its insert is what makes an event notified once), with the event and, per
 * channel, its outcome; PK `group`, RK a group's id: when its last notification was sent and how
 * many of its events were only counted since; PK `state`, RK a watched condition (the directory
 * sync, SCIM provisioning): whether it is failing and since when. Rows older than the retention are deleted by the
 * notification timer. Every change carries the row's ETag.
 */
import { odata, type TableClient } from '@azure/data-tables';
import { hasStatus, once, unlessStatus } from './clients';
import { CONFLICT, writeGuarded, type Conflict } from './conditionalWrite';

export const NOTIFICATIONS_TABLE = 'notifications';

export type ChannelOutcomeStatus = 'sent' | 'failed' | 'retrying';

export interface ChannelOutcome {
  status: ChannelOutcomeStatus;
  attempts: number;
  at: string;
  /** Why it failed, for a person (no URL, no token). */
  error?: string;
}

/** `pending` until every channel is sent or failed; `suppressed` when its group was notified within the hour; `none` without a channel. */
export type NotificationStatus = 'pending' | 'sent' | 'partial' | 'failed' | 'suppressed' | 'none';

export interface NotificationRecord {
  id: string;
  type: string;
  occurredAt: Date;
  /** The event as sent (shared/notifications/events.ts), JSON. */
  event: unknown;
  status: NotificationStatus;
  channels: Record<string, ChannelOutcome>;
  /** A worker sends it until then; another one leaves it alone. */
  claimedUntil?: Date;
  etag: string;
}

export interface NotificationGroup {
  lastSentAt: Date;
  /** Events counted, not sent, since lastSentAt. */
  suppressed: number;
  etag: string;
}

type Row = {
  type: string;
  occurredAt: Date;
  event: string;
  status: NotificationStatus;
  channels: string;
  claimedUntil?: Date;
};

type Changes = Partial<Pick<NotificationRecord, 'status' | 'channels' | 'claimedUntil'>>;

export class NotificationRecordRepository implements WatchedStates {
  private readonly ready: () => Promise<void>;

  constructor(private readonly table: TableClient) {
    this.ready = once(() => table.createTable());
  }

  async get(id: string): Promise<NotificationRecord | undefined> {
    await this.ready();
    const e = await unlessStatus(this.table.getEntity<Row>('event', id), 404);
    return e && recordOf(e);
  }

  /** The event's row, new; CONFLICT when the event is known already. */
  async create(record: Omit<NotificationRecord, 'etag'>): Promise<NotificationRecord | Conflict> {
    await this.ready();
    try {
      const res = await this.table.createEntity({ partitionKey: 'event', rowKey: record.id, ...rowOf(record) });
      return { ...record, etag: res.etag! };
    } catch (err) {
      if (hasStatus(err, 409)) return CONFLICT;
      throw err;
    }
  }

  /** Applies `changes` if the row is unchanged since it was read; CONFLICT otherwise. */
  async update(record: NotificationRecord, changes: Changes): Promise<NotificationRecord | Conflict> {
    await this.ready();
    const next = { ...record, ...changes };
    try {
      const res = await this.table.updateEntity(
        { partitionKey: 'event', rowKey: record.id, ...rowOf(next), claimedUntil: next.claimedUntil ?? null },
        'Replace',
        { etag: record.etag },
      );
      return { ...next, etag: res.etag! };
    } catch (err) {
      if (hasStatus(err, 412) || hasStatus(err, 404)) return CONFLICT;
      throw err;
    }
  }

  /** The events since `since`, newest first, at most `limit`. */
  async recent(since: Date, limit = 100): Promise<NotificationRecord[]> {
    await this.ready();
    const out: NotificationRecord[] = [];
    const filter = odata`PartitionKey eq 'event' and occurredAt ge ${since}`;
    for await (const e of this.table.listEntities<Row>({ queryOptions: { filter } })) out.push(recordOf(e));
    return out.sort((a, b) => b.occurredAt.getTime() - a.occurredAt.getTime()).slice(0, limit);
  }

  /** Deletes the events that occurred before `before`; how many. */
  async deleteOlderThan(before: Date): Promise<number> {
    await this.ready();
    let n = 0;
    const filter = odata`PartitionKey eq 'event' and occurredAt lt ${before}`;
    for await (const e of this.table.listEntities({ queryOptions: { filter, select: ['RowKey'] } })) {
      await unlessStatus(this.table.deleteEntity('event', e.rowKey!), 404);
      n++;
    }
    return n;
  }

  async state(id: string): Promise<WatchedState | undefined> {
    await this.ready();
    const e = await unlessStatus(this.table.getEntity<{ failing: boolean; since: Date }>('state', id), 404);
    return e && { failing: e.failing, since: new Date(e.since), etag: e.etag };
  }

  /** Writes a watched state: new when `etag` is undefined, else if unchanged since `etag`; CONFLICT otherwise. */
  async putState(id: string, state: Omit<WatchedState, 'etag'>, etag: string | undefined): Promise<WatchedState | Conflict> {
    await this.ready();
    const written = await writeGuarded(this.table, { partitionKey: 'state', rowKey: id, failing: state.failing, since: state.since }, etag);
    return written === CONFLICT ? CONFLICT : { ...state, etag: written };
  }

  async group(id: string): Promise<NotificationGroup | undefined> {
    await this.ready();
    const e = await unlessStatus(this.table.getEntity<{ lastSentAt: Date; suppressed: number }>('group', id), 404);
    return e && { lastSentAt: new Date(e.lastSentAt), suppressed: e.suppressed, etag: e.etag };
  }

  /** Writes a group: new when `etag` is undefined, else if unchanged since `etag`; CONFLICT otherwise. */
  async putGroup(id: string, group: Omit<NotificationGroup, 'etag'>, etag: string | undefined): Promise<NotificationGroup | Conflict> {
    await this.ready();
    const entity = { partitionKey: 'group', rowKey: id, lastSentAt: group.lastSentAt, suppressed: group.suppressed };
    const written = await writeGuarded(this.table, entity, etag);
    return written === CONFLICT ? CONFLICT : { ...group, etag: written };
  }
}

function rowOf(r: Omit<NotificationRecord, 'etag' | 'id'>): Row {
  return {
    type: r.type,
    occurredAt: r.occurredAt,
    event: JSON.stringify(r.event),
    status: r.status,
    channels: JSON.stringify(r.channels),
    ...(r.claimedUntil ? { claimedUntil: r.claimedUntil } : {}),
  };
}

function recordOf(e: Row & { rowKey?: string; etag: string }): NotificationRecord {
  return {
    id: e.rowKey!,
    type: e.type,
    occurredAt: new Date(e.occurredAt),
    event: JSON.parse(e.event) as unknown,
    status: e.status,
    channels: JSON.parse(e.channels) as Record<string, ChannelOutcome>,
    ...(e.claimedUntil ? { claimedUntil: new Date(e.claimedUntil) } : {}),
    etag: e.etag,
  };
}

/** A watched condition's last known state (PK `state`): whether it is failing, since when. */
export interface WatchedState {
  failing: boolean;
  since: Date;
  etag: string;
}

export interface WatchedStates {
  state(id: string): Promise<WatchedState | undefined>;
  putState(id: string, state: Omit<WatchedState, 'etag'>, etag: string | undefined): Promise<WatchedState | Conflict>;
}
