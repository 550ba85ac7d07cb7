/** Administering connections: create, list, show, refresh now, delete (which clears its tokens). */
import { randomUUID } from 'node:crypto';
import { audit } from '../audit';
import { AppError, BadRequestError } from '../errors';
import { describeError } from '../log';
import type { Actor, Connection, ConnectionAccount } from '../storage';
import { redirectUri, type AuthorizeDeps } from './authorize';
import { checkConnectionId, isConnectionId } from './connectionId';
import { ConnectionNotFoundError, ReauthorizationRequiredError } from './errors';
import { CONNECTION_TYPES, isConnectionType, type ConnectionType } from './permissions';
import { refreshConnection } from './tokens';

export interface ConnectionView {
  id: string;
  type: string;
  tenant: string;
  displayName: string;
  state: Connection['state'];
  account?: ConnectionAccount;
  grantedScopes: string[];
  lastRefreshAt?: string;
  nextRefreshAt?: string;
  consecutiveFailures: number;
  lastError?: string;
  /** The stable code of lastError when the identity platform named it (catalog kind `connection`, e.g. refresh_token_expired). */
  errorCode?: string;
  /** When a connector last got an access token with it (recorded at most every 5 minutes). */
  lastUsedAt?: string;
  /** The exact redirect URI to register for this connection's type. */
  redirectUri?: string;
  /** Where an administrator starts (or repeats) the authorization. */
  authorizePath: string;
}

export async function createConnection(deps: AuthorizeDeps, actor: Actor, body: unknown): Promise<ConnectionView> {
  const input = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const type = input.type;
  if (typeof type !== 'string' || !isConnectionType(type)) {
    throw new BadRequestError('invalid_type', `"type" must be one of: ${CONNECTION_TYPES.join(', ')}.`);
  }
  const displayName = typeof input.displayName === 'string' ? input.displayName.trim() : '';
  if (!displayName || displayName.length > 64 || /[\u0000-\u001f]/.test(displayName)) {
    throw new BadRequestError('invalid_display_name', '"displayName" must be 1 to 64 characters.');
  }
  const id = input.id === undefined ? randomUUID() : input.id;
  if (typeof id !== 'string' || !isConnectionId(id)) {
    throw new BadRequestError('invalid_id', '"id" must be 1 to 63 lowercase letters, digits and dashes.');
  }
  const tenant = input.tenant === undefined ? deps.config.tenant : input.tenant;
  if (typeof tenant !== 'string' || !/^[A-Za-z0-9.-]{1,100}$/.test(tenant)) {
    throw new BadRequestError('invalid_tenant', '"tenant" must be a tenant ID, a domain, or organizations.');
  }
  if (await deps.connections.get(id)) throw new BadRequestError('duplicate_id', `A connection '${id}' already exists.`);
  const created = view(deps, await deps.connections.create({ id, type, tenant, displayName }));
  await audit(deps, actor, 'connection.create', `connection:${id}`, { after: { type, tenant, displayName } });
  return created;
}

export async function listConnections(deps: AuthorizeDeps): Promise<ConnectionView[]> {
  return (await deps.connections.list()).map((c) => view(deps, c));
}

export async function getConnection(deps: AuthorizeDeps, id: string): Promise<ConnectionView> {
  const c = await deps.connections.get(checkConnectionId(id));
  if (!c) throw new ConnectionNotFoundError(id);
  return view(deps, c);
}

export interface RefreshResult {
  outcome: 'refreshed';
  connection: ConnectionView;
}

/**
 * Refreshes one connection now, for an administrator who wants to know at once (after fixing
 * consent, say): a connection that needs reauthorization is tried with its stored tokens too and is
 * authorized again when they work. Refused: 409 when it must be authorized again (the reason
 * says why), 503 when the identity platform failed transiently (tokens kept, the timer retries).
 */
export async function refreshConnectionNow(deps: AuthorizeDeps, actor: Actor, id: string, now = new Date()): Promise<RefreshResult> {
  const connection = await deps.connections.get(checkConnectionId(id));
  if (!connection) throw new ConnectionNotFoundError(id);
  await audit(deps, actor, 'connection.refresh', `connection:${id}`);
  // An error with an account left is the app's configuration failing a refresh: its tokens are kept and tried again.
  if (!connection.account || connection.state === 'pending') {
    throw new ReauthorizationRequiredError(
      id,
      `it has no authorization to refresh (state ${connection.state}). Authorize it: ${authorizePath(id)}.`,
    );
  }
  let failure: unknown;
  const outcome = await refreshConnection(deps, connection, now, { retryReauthorization: true, onFailure: (err) => (failure = err) });
  const latest = (await deps.connections.get(id)) ?? connection;
  if (outcome === 'refreshed') return { outcome, connection: view(deps, latest) };
  if (failure instanceof ReauthorizationRequiredError) throw failure;
  if (outcome === 'reauthorization_required') throw new ReauthorizationRequiredError(id, latest.lastError ?? 'authorize it again.');
  throw new AppError(
    'refresh_failed',
    `The identity platform did not complete the refresh of '${id}' (${describeError(failure).message ?? 'error'}); the tokens are kept and the timer retries${
      latest.nextRefreshAt ? ` at ${latest.nextRefreshAt.toISOString()}` : ''
    }. Try again in a few minutes.`.slice(0, 1000),
  );
}

/** Deletes the connection and its tokens. */
export async function deleteConnection(deps: AuthorizeDeps, actor: Actor, id: string): Promise<void> {
  const existing = await deps.connections.get(checkConnectionId(id));
  if (!existing) throw new ConnectionNotFoundError(id);
  await deps.tokenCaches.delete(id);
  await deps.connections.delete(id);
  await audit(deps, actor, 'connection.delete', `connection:${id}`, {
    before: { type: existing.type, displayName: existing.displayName, state: existing.state, account: existing.account?.upn },
  });
}

const authorizePath = (id: string) => `/api/oauth2/client/${id}/authorize`;

function view(deps: AuthorizeDeps, c: Connection): ConnectionView {
  let uri: string | undefined;
  try {
    uri = redirectUri(deps.config, c.type as ConnectionType);
  } catch {
    uri = undefined; // PUBLIC_BASE_URL not set yet
  }
  return {
    id: c.id,
    type: c.type,
    tenant: c.tenant,
    displayName: c.displayName,
    state: c.state,
    account: c.account,
    grantedScopes: c.grantedScopes,
    lastRefreshAt: c.lastRefreshAt?.toISOString(),
    nextRefreshAt: c.nextRefreshAt?.toISOString(),
    consecutiveFailures: c.consecutiveFailures,
    lastError: c.lastError,
    errorCode: c.lastErrorCode,
    lastUsedAt: c.lastUsedAt?.toISOString(),
    redirectUri: uri,
    authorizePath: authorizePath(c.id),
  };
}
