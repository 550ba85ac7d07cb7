import { odata, type TableClient } from '@azure/data-tables';
import type { Actor } from './auditLog';
import { packText, unpackText } from './chunks';
import { hasStatus, once, unlessStatus } from './clients';
import { CONFLICT, type Conflict } from './conditionalWrite';

export const DESTINATIONS_TABLE = 'destinations';

const PARTITION = 'destinations';
const CURRENT = 'current';
/** Version rows sort newest first: `v` and 9,999,999,999 minus the version, ten digits. */
const versionKey = (version: number) => `v${String(9_999_999_999 - version).padStart(10, '0')}`;

/** Which version is in force, who made it and when; its ETag guards every change. */
export interface DestinationsPointer {
  version: number;
  updatedAt: Date;
  actor: Actor;
  etag: string;
}

/** What a version is, besides its document. */
export interface VersionInfo {
  /** What made it: `destination.update`, `destinations.import`, `destinations.restore`… */
  action: string;
  /** What it changed: `destination:fax`, `destinations`. */
  target: string;
  /** In words, for the list of versions: `Updated 'fax'`. */
  summary: string;
  /** The version a restore copied. */
  restoredFrom?: number;
}

export interface DestinationsVersion extends VersionInfo {
  version: number;
  createdAt: Date;
  actor: Actor;
  /** How many destinations it holds. */
  count: number;
  /** The destinations document (the file's format); absent in lists. */
  document?: unknown;
}

/**
 * The destinations, versioned (`destinations`, one partition): a pointer row (RK `current`) naming
 * the version in force, and one immutable row per version (RK `v<inverted version>`, newest
 * first) holding the whole document as JSON (split like job fields), who made it and when. A
 * change writes the next version's row and moves the pointer in one entity group transaction,
 * guarded by the pointer's ETag: both happen or neither, and of two writers who read the same
 * pointer only one succeeds.
 */
export class DestinationVersionRepository {
  private readonly ready: () => Promise<void>;

  constructor(private readonly table: TableClient) {
    this.ready = once(() => table.createTable());
  }

  /** The version in force; undefined while none has been written. One point read. */
  async pointer(): Promise<DestinationsPointer | undefined> {
    await this.ready();
    const e = await unlessStatus(this.table.getEntity<Record<string, unknown>>(PARTITION, CURRENT), 404);
    return e && { version: Number(e.version), updatedAt: new Date(e.updatedAt as string), actor: actorOf(e.actor), etag: e.etag };
  }

  async get(version: number): Promise<DestinationsVersion | undefined> {
    if (!Number.isSafeInteger(version) || version < 1) return undefined;
    await this.ready();
    const e = await unlessStatus(this.table.getEntity<Record<string, unknown>>(PARTITION, versionKey(version)), 404);
    return e && { ...versionOf(e), document: JSON.parse(unpackText('document', e)) as unknown };
  }

  /** Versions older than `before` (all when absent), newest first, without their documents. */
  async list(options: { before?: number; limit: number }): Promise<DestinationsVersion[]> {
    await this.ready();
    const from = options.before === undefined ? 'v' : versionKey(options.before);
    const filter = odata`PartitionKey eq ${PARTITION} and RowKey gt ${from} and RowKey lt ${'w'}`;
    const out: DestinationsVersion[] = [];
    const select = ['version', 'createdAt', 'actor', 'action', 'target', 'summary', 'restoredFrom', 'count'];
    for await (const e of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter, select } })) {
      out.push(versionOf(e));
      if (out.length >= options.limit) break;
    }
    return out;
  }

  /**
   * Writes the version after `expected` (the first when undefined: no pointer yet) and makes it
   * current, if the pointer is still `expected`. CONFLICT when another writer came first.
   */
  async append(
    expected: DestinationsPointer | undefined,
    next: VersionInfo & { document: unknown; count: number; actor: Actor; at: Date },
  ): Promise<DestinationsPointer | Conflict> {
    await this.ready();
    const version = (expected?.version ?? 0) + 1;
    const pointer = { partitionKey: PARTITION, rowKey: CURRENT, version, updatedAt: next.at, actor: JSON.stringify(next.actor) };
    const row = {
      partitionKey: PARTITION,
      rowKey: versionKey(version),
      version,
      createdAt: next.at,
      actor: JSON.stringify(next.actor),
      action: next.action,
      target: next.target,
      summary: next.summary.slice(0, 500),
      count: next.count,
      ...(next.restoredFrom === undefined ? {} : { restoredFrom: next.restoredFrom }),
      ...packText('document', JSON.stringify(next.document)),
    };
    try {
      const result = await this.table.submitTransaction([
        expected ? ['update', pointer, 'Replace', { etag: expected.etag }] : ['create', pointer],
        ['create', row],
      ]);
      const etag = result.subResponses[0]?.etag;
      // Answers carry each operation's ETag; should one not, the pointer is read again for it.
      return { version, updatedAt: next.at, actor: next.actor, etag: etag ?? (await this.pointer())!.etag };
    } catch (err) {
      // 412: the pointer moved on; 409: the first pointer (or this version's row) exists already.
      if (hasStatus(err, 412) || hasStatus(err, 409) || hasStatus(err, 404)) return CONFLICT;
      throw err;
    }
  }
}

function actorOf(value: unknown): Actor {
  return JSON.parse(value as string) as Actor;
}

function versionOf(e: Record<string, unknown>): DestinationsVersion {
  return {
    version: Number(e.version),
    createdAt: new Date(e.createdAt as string),
    actor: actorOf(e.actor),
    action: e.action as string,
    target: e.target as string,
    summary: e.summary as string,
    count: Number(e.count ?? 0),
    ...(e.restoredFrom === undefined || e.restoredFrom === null ? {} : { restoredFrom: Number(e.restoredFrom) }),
  };
}
