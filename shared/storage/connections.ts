import type { ErrorCode } from '../errors';
import { odata, type TableClient } from '@azure/data-tables';
import { hasStatus, once, unlessStatus } from './clients';

export const CONNECTIONS_TABLE = 'connections';

/** A connection's state: a code of the catalog (shared/errors/catalog.ts) of kind `connection`. */
export type ConnectionState = Extract<ErrorCode, 'pending' | 'authorized' | 'reauthorization_required' | 'error'>;

export interface Connection {
  id: string;
  type: string;
  tenant: string;
  displayName: string;
  state: ConnectionState;
  /**
   * The account: UPN for display, oid + tid (the ID token's: the object in the tenant signed in to)
   * as its identity, and MSAL's homeAccountId (`uid.utid` of client_info: the home account, which
   * differs from `oid.tid` for a guest) under which its tokens are cached.
   */
  account?: ConnectionAccount;
  grantedScopes: string[];
  lastRefreshAt?: Date;
  nextRefreshAt?: Date;
  /** When the access token of the last authorization or refresh expires (the timer refreshes it before). */
  accessTokenExpiresAt?: Date;
  consecutiveFailures: number;
  /** What went wrong last, in words for an administrator (never a token). */
  lastError?: string;
  /**
   * The stable code of lastError when the identity platform named the failure (a catalog code such
   * as `refresh_token_expired`, shared/oauth/entraErrors.ts); absent otherwise.
   */
  lastErrorCode?: string;
  /** When a connector last got an access token for it (written at most every few minutes). */
  lastUsedAt?: Date;
  createdAt: Date;
  updatedAt: Date;
  etag: string;
}

export interface ConnectionAccount {
  upn?: string;
  oid: string;
  tid: string;
  /** Absent on connections authorized before it was recorded: their home account is `oid.tid`. */
  homeAccountId?: string;
}

export type NewConnection = Pick<Connection, 'id' | 'type' | 'tenant' | 'displayName'>;
export type ConnectionChanges = Partial<Omit<Connection, 'id' | 'type' | 'createdAt' | 'updatedAt' | 'etag'>>;

/** Connections (`connections`, PK 'connection', RK id). Every update is ETag-guarded. */
export class ConnectionRepository {
  private readonly ready: () => Promise<void>;

  constructor(private readonly table: TableClient) {
    this.ready = once(() => table.createTable());
  }

  async create(c: NewConnection): Promise<Connection> {
    await this.ready();
    const now = new Date();
    const entity = toEntity({ ...c, state: 'pending', grantedScopes: [], consecutiveFailures: 0, createdAt: now, updatedAt: now });
    try {
      const res = await this.table.createEntity(entity);
      return { ...c, state: 'pending', grantedScopes: [], consecutiveFailures: 0, createdAt: now, updatedAt: now, etag: res.etag! };
    } catch (err) {
      if (hasStatus(err, 409)) throw new Error(`A connection with id '${c.id}' already exists.`, { cause: err });
      throw err;
    }
  }

  async get(id: string): Promise<Connection | undefined> {
    await this.ready();
    const e = await unlessStatus(this.table.getEntity<Record<string, unknown>>('connection', id), 404);
    return e && fromEntity(e);
  }

  async list(): Promise<Connection[]> {
    await this.ready();
    const out: Connection[] = [];
    for await (const e of this.table.listEntities<Record<string, unknown>>({
      queryOptions: { filter: odata`PartitionKey eq ${'connection'}` },
    })) {
      out.push(fromEntity(e));
    }
    return out;
  }

  /** Applies `changes` if the row is unchanged since `etag`; returns the new state, or undefined on a conflict. */
  async update(current: Connection, changes: ConnectionChanges): Promise<Connection | undefined> {
    const next: Connection = { ...current, ...changes, updatedAt: new Date() };
    const res = await unlessStatus(this.table.updateEntity(toEntity(next), 'Replace', { etag: current.etag }), 412, 404);
    return res && { ...next, etag: res.etag! };
  }

  async delete(id: string): Promise<void> {
    await this.ready();
    await unlessStatus(this.table.deleteEntity('connection', id), 404);
  }
}

function toEntity(c: Omit<Connection, 'etag'>) {
  return {
    partitionKey: 'connection',
    rowKey: c.id,
    type: c.type,
    tenant: c.tenant,
    displayName: c.displayName,
    state: c.state,
    accountUpn: c.account?.upn,
    accountOid: c.account?.oid,
    accountTid: c.account?.tid,
    accountHomeId: c.account?.homeAccountId,
    grantedScopes: JSON.stringify(c.grantedScopes),
    lastRefreshAt: c.lastRefreshAt,
    nextRefreshAt: c.nextRefreshAt,
    accessTokenExpiresAt: c.accessTokenExpiresAt,
    consecutiveFailures: c.consecutiveFailures,
    lastError: c.lastError,
    lastErrorCode: c.lastErrorCode,
    lastUsedAt: c.lastUsedAt,
    createdAt: c.createdAt,
    updatedAt: c.updatedAt,
  };
}

function fromEntity(e: Record<string, unknown> & { etag: string }): Connection {
  const date = (v: unknown) => (v === undefined || v === null ? undefined : new Date(v as string));
  return {
    id: e.rowKey as string,
    type: e.type as string,
    tenant: e.tenant as string,
    displayName: e.displayName as string,
    state: e.state as ConnectionState,
    account: e.accountOid
      ? {
          upn: e.accountUpn as string | undefined,
          oid: e.accountOid as string,
          tid: e.accountTid as string,
          ...(e.accountHomeId ? { homeAccountId: e.accountHomeId as string } : {}),
        }
      : undefined,
    grantedScopes: JSON.parse((e.grantedScopes as string) || '[]') as string[],
    lastRefreshAt: date(e.lastRefreshAt),
    nextRefreshAt: date(e.nextRefreshAt),
    accessTokenExpiresAt: date(e.accessTokenExpiresAt),
    consecutiveFailures: Number(e.consecutiveFailures ?? 0),
    lastError: e.lastError as string | undefined,
    ...(e.lastErrorCode ? { lastErrorCode: e.lastErrorCode as string } : {}),
    lastUsedAt: date(e.lastUsedAt),
    createdAt: date(e.createdAt)!,
    updatedAt: date(e.updatedAt)!,
    etag: e.etag,
  };
}
