import { createHash } from 'node:crypto';
import type { TableClient } from '@azure/data-tables';
import { hasStatus, once } from './clients';

export const AUTH_STATES_TABLE = 'oauthstates';

/** What an authorize request left server-side for its callback. */
export interface AuthState {
  connectionId: string;
  connectionType: string;
  /** PKCE code verifier (S256), sent with the code exchange. */
  codeVerifier: string;
  redirectUri: string;
  expiresAt: Date;
}

export type ConsumeResult = { ok: true; state: AuthState } | { ok: false; reason: 'unknown' | 'expired' | 'used' };

/**
 * OAuth `state` values (`oauthstates`), keyed by the SHA-256 of the state so the table never
 * holds a usable value. Consuming deletes the row with its ETag: exactly one callback wins.
 */
export class AuthStateRepository {
  private readonly ready: () => Promise<void>;

  constructor(private readonly table: TableClient) {
    this.ready = once(() => table.createTable());
  }

  async save(state: string, value: AuthState): Promise<void> {
    await this.ready();
    await this.table.createEntity({ partitionKey: keyOf(state), rowKey: '', ...value });
  }

  async consume(state: string, now = new Date()): Promise<ConsumeResult> {
    await this.ready();
    let e: Record<string, unknown> & { etag: string };
    try {
      e = await this.table.getEntity<Record<string, unknown>>(keyOf(state), '');
    } catch (err) {
      if (hasStatus(err, 404)) return { ok: false, reason: 'unknown' };
      throw err;
    }
    try {
      await this.table.deleteEntity(keyOf(state), '', { etag: e.etag });
    } catch (err) {
      if (hasStatus(err, 404) || hasStatus(err, 412)) return { ok: false, reason: 'used' };
      throw err;
    }
    const value: AuthState = {
      connectionId: e.connectionId as string,
      connectionType: e.connectionType as string,
      codeVerifier: e.codeVerifier as string,
      redirectUri: e.redirectUri as string,
      expiresAt: new Date(e.expiresAt as string),
    };
    if (value.expiresAt.getTime() <= now.getTime()) return { ok: false, reason: 'expired' };
    return { ok: true, state: value };
  }
}

function keyOf(state: string): string {
  return createHash('sha256').update(state, 'utf8').digest('hex');
}
