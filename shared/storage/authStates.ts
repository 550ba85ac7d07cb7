import { createHash } from 'node:crypto';
import { odata, type TableClient } from '@azure/data-tables';
import { forEachLimited } from '../concurrency';
import type { Actor } from './auditLog';
import { hasStatus, once, unlessStatus } from './clients';

export const AUTH_STATES_TABLE = 'oauthstates';

/**
 * What a sign-in's start left server-side for its callback: a connection's authorization, an
 * administrator's sign-in to the console, or a development sign-in link.
 */
export type AuthStatePurpose = 'connection' | 'console' | 'development';

/** What an authorize request left server-side for its callback. */
export interface AuthState {
  purpose: AuthStatePurpose;
  /** Where the browser goes back to afterwards: a console path, or none (the callback's own page). */
  returnTo?: string;
  /** Who started it (recorded in the audit log when it completes). */
  actor?: Actor;
  /** The connection authorized (empty for the console's sign-ins). */
  connectionId: string;
  connectionType: string;
  redirectUri: string;
  /**
   * What must stay secret until the callback, sealed by the caller (the PKCE code verifier and the
   * nonce): this repository never sees them in clear.
   */
  sealed: string;
  expiresAt: Date;
}

export type ConsumeResult = { ok: true; state: AuthState } | { ok: false; reason: 'unknown' | 'expired' | 'used' };

/**
 * OAuth `state` values (`oauthstates`), keyed by the SHA-256 of the state so the table never
 * holds a usable value. Consuming deletes the row with its ETag: exactly one callback wins.
 * Rows of sign-ins nobody finished are deleted once expired (`deleteExpired`, run by the token
 * refresh timer).
 */
export class AuthStateRepository {
  private readonly ready: () => Promise<void>;

  constructor(private readonly table: TableClient) {
    this.ready = once(() => table.createTable());
  }

  async save(state: string, value: AuthState): Promise<void> {
    await this.ready();
    const { actor, ...rest } = value;
    await this.table.createEntity({ partitionKey: keyOf(state), rowKey: '', ...rest, ...(actor ? { actor: JSON.stringify(actor) } : {}) });
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
      // Rows written before there were other purposes are connections'.
      purpose: (e.purpose as AuthStatePurpose | undefined) ?? 'connection',
      ...(typeof e.returnTo === 'string' && e.returnTo ? { returnTo: e.returnTo } : {}),
      ...(typeof e.actor === 'string' ? { actor: JSON.parse(e.actor) as Actor } : {}),
      connectionId: e.connectionId as string,
      connectionType: e.connectionType as string,
      redirectUri: e.redirectUri as string,
      sealed: e.sealed as string,
      expiresAt: new Date(e.expiresAt as string),
    };
    if (value.expiresAt.getTime() <= now.getTime()) return { ok: false, reason: 'expired' };
    // A row without a sealed part was written before verifiers were sealed: start again.
    if (typeof value.sealed !== 'string' || value.sealed === '') return { ok: false, reason: 'unknown' };
    return { ok: true, state: value };
  }

  /** Deletes the rows whose sign-in expired before `now` (each with its ETag); returns how many went. */
  async deleteExpired(now = new Date()): Promise<number> {
    await this.ready();
    const expired: Array<{ partitionKey: string; rowKey: string; etag: string }> = [];
    const filter = odata`expiresAt lt ${now}`;
    for await (const e of this.table.listEntities({ queryOptions: { filter, select: ['PartitionKey', 'RowKey'] } })) {
      expired.push({ partitionKey: e.partitionKey!, rowKey: e.rowKey!, etag: e.etag });
    }
    let deleted = 0;
    await forEachLimited(expired, 8, async (e) => {
      // A callback that consumed it meanwhile got there first: nothing to do.
      if (await unlessStatus(this.table.deleteEntity(e.partitionKey, e.rowKey, { etag: e.etag }), 404, 412)) deleted++;
    });
    return deleted;
  }
}

function keyOf(state: string): string {
  return createHash('sha256').update(state, 'utf8').digest('hex');
}
