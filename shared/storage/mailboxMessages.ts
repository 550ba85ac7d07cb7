/**
 * What became of each message a mailbox source took in (table `mailboxmessages`, PK the
 * source's id, RK the inverted time received and a hash of the Internet message ID: newest first,
 * and the same row when a message is taken in again): the job
 * it became, or why it was rejected. The message itself (subject, sender) is kept short; the
 * files are the job's.
 */
import { createHash } from 'node:crypto';
import { odata, type TableClient } from '@azure/data-tables';
import { once } from './clients';

export const MAILBOX_MESSAGES_TABLE = 'mailboxmessages';

export type MailboxOutcome = 'stored' | 'duplicate' | 'rejected';

export interface MailboxMessageRecord {
  sourceId: string;
  internetMessageId: string;
  subject: string;
  from: string;
  receivedAt?: Date;
  outcome: MailboxOutcome;
  jobId?: string;
  /** With `rejected`: a stable code and the sentence shown to administrators. */
  code?: string;
  reason?: string;
  at: Date;
}

const rowKey = (at: Date, internetMessageId: string) =>
  `${String(9_999_999_999_999 - at.getTime()).padStart(13, '0')}-${createHash('sha256').update(internetMessageId).digest('hex').slice(0, 16)}`;

export class MailboxMessageRepository {
  private readonly ready: () => Promise<void>;

  constructor(private readonly table: TableClient) {
    this.ready = once(() => table.createTable());
  }

  async record(r: MailboxMessageRecord): Promise<void> {
    await this.ready();
    await this.table.upsertEntity(
      {
        partitionKey: r.sourceId,
        rowKey: rowKey(r.receivedAt ?? r.at, r.internetMessageId),
        internetMessageId: r.internetMessageId.slice(0, 1000),
        subject: r.subject.slice(0, 300),
        from: r.from.slice(0, 300),
        receivedAt: r.receivedAt,
        outcome: r.outcome,
        jobId: r.jobId,
        code: r.code,
        reason: r.reason?.slice(0, 1000),
        at: r.at,
      },
      'Replace',
    );
  }

  /** The source's latest messages, newest first. */
  async latest(sourceId: string, limit: number): Promise<MailboxMessageRecord[]> {
    await this.ready();
    const out: MailboxMessageRecord[] = [];
    const filter = odata`PartitionKey eq ${sourceId}`;
    for await (const e of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) {
      out.push({
        sourceId,
        internetMessageId: e.internetMessageId as string,
        subject: (e.subject as string) ?? '',
        from: (e.from as string) ?? '',
        receivedAt: e.receivedAt ? new Date(e.receivedAt as string) : undefined,
        outcome: e.outcome as MailboxOutcome,
        jobId: (e.jobId as string) || undefined,
        code: (e.code as string) || undefined,
        reason: (e.reason as string) || undefined,
        at: new Date(e.at as string),
      });
      if (out.length >= limit) break;
    }
    return out;
  }
}
