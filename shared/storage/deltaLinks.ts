/**
 * The directory sync's delta links: where each of its Graph delta queries stopped (table
 * `directorysync`, PK `delta`, RK the query's name; the table keeps the name it was created with).
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
  updatedAt: Date;
  etag: string;
}

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
    const e = await unlessStatus(this.table.getEntity<{ deltaLink: string; updatedAt: Date }>(PARTITION, name), 404);
    if (!e) return undefined;
    return { name, deltaLink: e.deltaLink, updatedAt: new Date(e.updatedAt), etag: e.etag };
  }

  /**
   * Stores a round's deltaLink. `previous` is the link the round started from (undefined: there
   * was none). Returns false when another run changed the row meanwhile (its link is kept).
   */
  async save(name: string, deltaLink: string, previous: DeltaLink | undefined): Promise<boolean> {
    await this.ready();
    const entity = { partitionKey: PARTITION, rowKey: name, deltaLink, updatedAt: new Date() };
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
    for await (const e of this.table.listEntities<{ deltaLink: string; updatedAt: Date }>({ queryOptions: { filter } })) {
      yield { name: e.rowKey!, deltaLink: e.deltaLink, updatedAt: new Date(e.updatedAt), etag: e.etag };
    }
  }

  /** Forgets a query's link (expired token: the next round is a full one). */
  async remove(name: string, previous: DeltaLink): Promise<void> {
    await this.ready();
    await unlessStatus(this.table.deleteEntity(PARTITION, name, { etag: previous.etag }), 404, 412);
  }
}
