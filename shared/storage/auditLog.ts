import { randomBytes } from 'node:crypto';
import { odata, type TableClient } from '@azure/data-tables';
import { packText, unpackText } from './chunks';
import { once } from './clients';

export const AUDIT_LOG_TABLE = 'auditlog';

/** Who did something: a signed-in administrator, a script with the admin key, or ScanRelay itself. */
export type Actor = { kind: 'user'; oid: string; upn: string; name?: string } | { kind: 'key' } | { kind: 'system'; name: string };

export interface AuditEntry {
  at: Date;
  actor: Actor;
  /** What was done, e.g. `destination.update`, `connection.delete`, `job.redeliver`. */
  action: string;
  /** What it was done to, e.g. `destination:fax`, `job:<jobId>`. */
  target: string;
  /** The thing before and after, as an administrator may see it (never a secret or a token). */
  before?: unknown;
  after?: unknown;
}

/**
 * The audit log (`auditlog`): one row per administrator action, PK the UTC day (YYYYMMDD), RK
 * newest first within it. Rows are only ever added.
 */
export class AuditLogRepository {
  private readonly ready: () => Promise<void>;

  constructor(private readonly table: TableClient) {
    this.ready = once(() => table.createTable());
  }

  async add(entry: AuditEntry): Promise<void> {
    await this.ready();
    const t = entry.at.getTime();
    await this.table.createEntity({
      partitionKey: dayOf(entry.at),
      // Newest first: the inverted time, then a random suffix so that two entries never collide.
      rowKey: `${String(8_640_000_000_000_000 - t).padStart(16, '0')}-${randomBytes(4).toString('hex')}`,
      at: entry.at,
      actor: JSON.stringify(entry.actor),
      action: entry.action,
      target: entry.target,
      ...packText('before', entry.before === undefined ? '' : JSON.stringify(entry.before)),
      ...packText('after', entry.after === undefined ? '' : JSON.stringify(entry.after)),
    });
  }

  /** The entries of the days from `from` to `to` (UTC), newest first, at most `limit`. */
  async list(from: Date, to: Date, limit = 500): Promise<AuditEntry[]> {
    await this.ready();
    const out: AuditEntry[] = [];
    for (let day = startOfDay(to); day >= startOfDay(from) && out.length < limit; day = new Date(day.getTime() - 86_400_000)) {
      const filter = odata`PartitionKey eq ${dayOf(day)}`;
      for await (const e of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) {
        const at = new Date(e.at as string);
        if (at < from || at > to) continue;
        const before = unpackText('before', e);
        const after = unpackText('after', e);
        out.push({
          at,
          actor: JSON.parse(e.actor as string) as Actor,
          action: e.action as string,
          target: e.target as string,
          before: before ? (JSON.parse(before) as unknown) : undefined,
          after: after ? (JSON.parse(after) as unknown) : undefined,
        });
        if (out.length >= limit) break;
      }
    }
    return out;
  }
}

const dayOf = (d: Date) => d.toISOString().slice(0, 10).replace(/-/g, '');
const startOfDay = (d: Date) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
