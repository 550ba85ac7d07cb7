import type { TableClient } from '@azure/data-tables';
import { packText, unpackText } from './chunks';
import { hasStatus, once, unlessStatus } from './clients';

export const TOKEN_CACHES_TABLE = 'tokencaches';

export interface SealedCache {
  /** The token cache, encrypted (this repository never sees a token in clear). */
  sealed: string;
  etag: string;
}

/** Another writer changed the row since it was read: re-read, merge, try again. */
export class ConcurrentWriteError extends Error {
  constructor(connectionId: string) {
    super(`The token cache of connection ${connectionId} was changed by another writer.`);
    this.name = 'ConcurrentWriteError';
  }
}

/** One encrypted token cache per connection (`tokencaches`, PK connection id), written with ETags. */
export class TokenCacheRepository {
  private readonly ready: () => Promise<void>;

  constructor(private readonly table: TableClient) {
    this.ready = once(() => table.createTable());
  }

  async read(connectionId: string): Promise<SealedCache | undefined> {
    await this.ready();
    const e = await unlessStatus(this.table.getEntity<Record<string, unknown>>(connectionId, 'msal'), 404);
    return e && { sealed: unpackText('cache', e), etag: e.etag };
  }

  /**
   * Writes the cache: `etag` undefined creates the row (fails if it exists), otherwise replaces
   * it only if unchanged. Throws ConcurrentWriteError when another writer got there first.
   */
  async write(connectionId: string, sealed: string, etag: string | undefined): Promise<string> {
    await this.ready();
    const entity = { partitionKey: connectionId, rowKey: 'msal', updatedAt: new Date(), ...packText('cache', sealed) };
    try {
      const res = etag ? await this.table.updateEntity(entity, 'Replace', { etag }) : await this.table.createEntity(entity);
      return res.etag!;
    } catch (err) {
      if (hasStatus(err, 412) || hasStatus(err, 409) || hasStatus(err, 404)) throw new ConcurrentWriteError(connectionId);
      throw err;
    }
  }

  async delete(connectionId: string): Promise<void> {
    await this.ready();
    await unlessStatus(this.table.deleteEntity(connectionId, 'msal'), 404);
  }
}
