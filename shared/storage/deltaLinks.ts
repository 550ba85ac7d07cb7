/**
 * Where Graph delta queries stopped (PK `delta`, RK the query's name): the directory sync's (table
 * `directorysync`, which keeps the name it was created with), and each mailbox source's folder
 * (table `mailboxstate`, RK the source's id).
 */
import { odata, type TableClient } from '@azure/data-tables';
import { hasStatus, once, unlessStatus } from './clients';

export const DELTA_LINKS_TABLE = 'directorysync';
const PARTITION = 'delta';

/** Where a delta query stopped: the `@odata.deltaLink` of its last complete round. */
export interface DeltaLink {
  /** The query's name (`users`, `groups-…`). */
  name: string;
  deltaLink: string;
  /** What the link belongs to, when that can change under the same name (a mailbox source's folder id). */
  scope?: string;
  updatedAt: Date;
  etag: string;
}

type Row = { deltaLink: string; scope?: string; updatedAt: Date };

/**
 * A link is stored only after its round was applied completely, so a run that fails midway starts
 * again from the previous link (re-applying changes is harmless). Writes carry the row's ETag:
 * when two runs overlap, the one that read an older link loses instead of moving the link
 * backwards. The link holds Graph's opaque state token, which grants nothing without an access
 * token, but it is still kept out of log lines.
 */
export class DeltaLinkRepository {
  private readonly ready: () => Promise<void>;

  constructor(private readonly table: TableClient) {
    this.ready = once(() => table.createTable());
  }

  async get(name: string): Promise<DeltaLink | undefined> {
    await this.ready();
    const e = await unlessStatus(this.table.getEntity<Row>(PARTITION, name), 404);
    if (!e) return undefined;
    return { name, deltaLink: e.deltaLink, scope: e.scope || undefined, updatedAt: new Date(e.updatedAt), etag: e.etag };
  }

  /**
   * Stores a round's deltaLink. `previous` is the link the round started from (undefined: there
   * was none). Returns false when another run changed the row meanwhile (its link is kept).
   */
  async save(name: string, deltaLink: string, previous: DeltaLink | undefined, scope?: string): Promise<boolean> {
    await this.ready();
    const entity = { partitionKey: PARTITION, rowKey: name, deltaLink, ...(scope ? { scope } : {}), updatedAt: new Date() };
    try {
      if (previous) await this.table.updateEntity(entity, 'Replace', { etag: previous.etag });
      else await this.table.createEntity(entity);
      return true;
    } catch (err) {
      if (hasStatus(err, 409) || hasStatus(err, 412) || hasStatus(err, 404)) return false;
      throw err;
    }
  }

  /** Every stored link. */
  async *list(): AsyncIterable<DeltaLink> {
    await this.ready();
    const filter = odata`PartitionKey eq ${PARTITION}`;
    for await (const e of this.table.listEntities<Row>({ queryOptions: { filter } })) {
      yield { name: e.rowKey!, deltaLink: e.deltaLink, scope: e.scope || undefined, updatedAt: new Date(e.updatedAt), etag: e.etag };
    }
  }

  /** Forgets a query's link (expired token: the next round is a full one). */
  async remove(name: string, previous: DeltaLink): Promise<void> {
    await this.ready();
    await unlessStatus(this.table.deleteEntity(PARTITION, name, { etag: previous.etag }), 404, 412);
  }
}
