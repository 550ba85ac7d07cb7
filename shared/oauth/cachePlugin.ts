/**
 * MSAL's token cache for one connection, persisted in Table Storage through a cache plugin:
 * encrypted with the TokenCipher (the row's identity bound in), written with the row's ETag.
 * A write that meets another writer's change throws ConcurrentWriteError; the caller re-reads
 * (a new client instance loads the winner's cache) instead of overwriting it.
 */
import type { ICachePlugin, TokenCacheContext } from '@azure/msal-node';
import type { TokenCacheRepository } from '../storage';
import type { TokenCipher } from './tokenCipher';

export class EncryptedTableCachePlugin implements ICachePlugin {
  private etag: string | undefined;

  constructor(
    private readonly connectionId: string,
    private readonly repo: Pick<TokenCacheRepository, 'read' | 'write'>,
    private readonly cipher: TokenCipher,
  ) {}

  async beforeCacheAccess(context: TokenCacheContext): Promise<void> {
    const row = await this.repo.read(this.connectionId);
    this.etag = row?.etag;
    if (row) context.tokenCache.deserialize(await this.cipher.decrypt(row.sealed, this.aad()));
  }

  async afterCacheAccess(context: TokenCacheContext): Promise<void> {
    if (!context.cacheHasChanged) return;
    const sealed = await this.cipher.encrypt(context.tokenCache.serialize(), this.aad());
    this.etag = await this.repo.write(this.connectionId, sealed, this.etag);
  }

  private aad(): string {
    return tokenCacheContext(this.connectionId);
  }
}

/** The additional authenticated data of a connection's sealed token cache: the row's identity. */
export function tokenCacheContext(connectionId: string): string {
  return `tokencache:${connectionId}`;
}
