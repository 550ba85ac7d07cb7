import type { TableClient } from '@azure/data-tables';
import { hasStatus, once, unlessStatus } from './clients';

export const TOKEN_KEYS_TABLE = 'tokenkeys';
const PARTITION = 'wrapped';

/** A token data key as stored: wrapped (encrypted) by one version of a Key Vault key. */
export interface WrappedDataKey {
  /** The Key Vault key version that wrapped it (also the version in sealed values). */
  version: string;
  /** The full key identifier (https://<vault>/keys/<name>/<version>) that can unwrap it. */
  kid: string;
  /** The wrap algorithm, e.g. RSA-OAEP-256. */
  alg: string;
  /** The wrapped key; only Key Vault can unwrap it. */
  wrapped: Buffer;
}

/**
 * Wrapped data keys (`tokenkeys`, PK `wrapped`, RK the Key Vault key version). Never holds a data
 * key in clear. Rows are only ever inserted: two instances that race to create the data key of a
 * new key version both end up with the one row that was inserted first.
 */
export class TokenKeyRepository {
  private readonly ready: () => Promise<void>;

  constructor(private readonly table: TableClient) {
    this.ready = once(() => table.createTable());
  }

  async get(version: string): Promise<WrappedDataKey | undefined> {
    await this.ready();
    const e = await unlessStatus(this.table.getEntity<Record<string, unknown>>(PARTITION, version), 404);
    return e && { version, kid: String(e.kid), alg: String(e.alg), wrapped: Buffer.from(String(e.wrappedKey), 'base64') };
  }

  /** Inserts the row unless one exists for the version; answers the row that is stored. */
  async insertIfAbsent(key: WrappedDataKey): Promise<WrappedDataKey> {
    await this.ready();
    try {
      await this.table.createEntity({
        partitionKey: PARTITION,
        rowKey: key.version,
        kid: key.kid,
        alg: key.alg,
        wrappedKey: key.wrapped.toString('base64'),
        createdAt: new Date(),
      });
      return key;
    } catch (err) {
      if (!hasStatus(err, 409)) throw err;
      const stored = await this.get(key.version);
      if (!stored) throw err;
      return stored;
    }
  }
}
