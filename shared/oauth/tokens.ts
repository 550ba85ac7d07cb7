/**
 * Access tokens for connections: `getAccessToken` (what connectors call) and the refresh that
 * the timer runs. Failures are classified: a revoked, expired or consent-less grant makes the
 * connection `reauthorization_required` (the administrator must authorize again); network
 * errors, 5xx and throttling keep the tokens and are retried on the next run, with back-off.
 */
import { InteractionRequiredAuthError, type AccountInfo, type AuthenticationResult } from '@azure/msal-node';
import { describeError, type Logger } from '../log';
import {
  CONFLICT,
  ConcurrentWriteError,
  retryOnConflict,
  type Connection,
  type ConnectionRepository,
  type TokenCacheRepository,
} from '../storage';
import type { OAuthConfig } from '../config';
import { EncryptedTableCachePlugin } from './cachePlugin';
import { ConnectionNotFoundError, OIDC_SCOPES, ReauthorizationRequiredError } from './errors';
import { nameEntraError, type NamedEntraError } from './entraErrors';
import { registrationFacts, type MsalClients } from './msalClient';
import { requestedScopes, type ConnectionType } from './permissions';
import type { TokenCipher } from './tokenCipher';
import { forEachLimited } from '../concurrency';
import type { Notifier } from '../notifications';
import { events, factsOf } from '../notifications/events';
import { nextOccurrence } from '../schedule';

export interface TokenDeps {
  config: OAuthConfig;
  connections: ConnectionRepository;
  tokenCaches: TokenCacheRepository;
  cipher: TokenCipher;
  msal: MsalClients;
  log: Logger;
  /** Tells administrators of the connection's changes of state (shared/notifications). */
  notifier?: Notifier;
  /** Access tokens kept in this process (one per process; see AccessTokenCache). */
  accessTokens?: AccessTokenCache;
}

/**
 * The access tokens this process got, per connection, account and scopes, each kept until five
 * minutes before it expires. A connector asks for a token on every delivery; without this each
 * ask read and decrypted the connection's whole token cache from Table Storage and ran MSAL over
 * it to find the same access token MSAL had cached. The connection's row is still read on every
 * ask, so a connection deleted, or no longer authorized, gets no token from here; a forced
 * refresh (the service refused the token) bypasses it and replaces the kept one.
 */
export class AccessTokenCache {
  private readonly kept = new Map<string, AccessToken>();

  constructor(private readonly now: () => number = Date.now) {}

  get(key: string): AccessToken | undefined {
    const token = this.kept.get(key);
    if (token && token.expiresOn.getTime() - EXPIRY_MARGIN_MS > this.now()) return token;
    if (token) this.kept.delete(key);
    return undefined;
  }

  set(key: string, token: AccessToken): void {
    if (this.kept.size >= 10_000) this.kept.clear();
    this.kept.set(key, token);
  }
}

export interface AccessToken {
  accessToken: string;
  expiresOn: Date;
}

const REAUTH_CODES = new Set(['invalid_grant', 'interaction_required', 'consent_required', 'login_required', 'no_tokens_found']);

/**
 * The connection's token cache holds no account to ask MSAL for tokens with (never authorized, or
 * its cache was lost). MSAL's own word for a cache without tokens is the code `no_tokens_found`.
 */
class NoStoredTokensError extends Error {
  constructor() {
    super('No tokens are stored for this connection.');
    this.name = 'NoStoredTokensError';
  }
}

/** True when the error means the grant is gone and only a new authorization helps. */
export function needsReauthorization(err: unknown): boolean {
  if (err instanceof InteractionRequiredAuthError || err instanceof NoStoredTokensError) return true;
  const e = err as { errorCode?: string; errorMessage?: string; subError?: string };
  if (e?.errorCode && REAUTH_CODES.has(e.errorCode)) return true;
  return /AADSTS(50173|700082|70008|65001|50076|50079|500341|50057|50053)\b/.test(e?.errorMessage ?? '');
}

/** lastUsedAt is written at most this often per connection (a connector may ask for tokens many times a minute). */
export const LAST_USED_GRANULARITY_MS = 5 * 60_000;

/**
 * A valid access token for the connection, refreshed when needed (or when `forceRefresh`): what
 * connectors call. Records the connection's last use (lastUsedAt).
 */
export async function getAccessToken(
  deps: TokenDeps,
  connectionId: string,
  options: { scopes?: string[]; forceRefresh?: boolean } = {},
): Promise<AccessToken> {
  const connection = await authorizedConnection(deps, connectionId);
  const { homeAccountId, oid, tid } = connection.account!;
  const key = [connection.id, homeAccountId ?? `${oid}.${tid}`, ...scopesFor(connection, options.scopes)].join(' ');
  let token = options.forceRefresh ? undefined : deps.accessTokens?.get(key);
  if (!token) {
    token = await useStoredTokens(deps, connection, options);
    deps.accessTokens?.set(key, token);
  }
  await recordUse(deps, connection);
  return token;
}

async function authorizedConnection(deps: TokenDeps, connectionId: string): Promise<Connection> {
  const connection = await deps.connections.get(connectionId);
  if (!connection) throw new ConnectionNotFoundError(connectionId);
  if (connection.state !== 'authorized' || !connection.account) {
    const wording = connection.state === 'error' && connection.account ? 'fix' : 'reauthorize';
    throw new ReauthorizationRequiredError(connectionId, connection.lastError ?? `its state is ${connection.state}.`, wording);
  }
  return connection;
}

/**
 * Sets lastUsedAt when the recorded one is older than LAST_USED_GRANULARITY_MS: ETag-guarded, one
 * retry on a conflict; a failure to record never fails the token.
 */
async function recordUse(deps: TokenDeps, connection: Connection, now = new Date()): Promise<void> {
  const stale = (c: Connection) => !c.lastUsedAt || now.getTime() - c.lastUsedAt.getTime() >= LAST_USED_GRANULARITY_MS;
  try {
    let current = connection;
    for (let attempt = 1; attempt <= 2 && stale(current); attempt++) {
      if (await deps.connections.update(current, { lastUsedAt: now })) return;
      const latest = await deps.connections.get(connection.id);
      if (!latest) return;
      current = latest;
    }
  } catch (err) {
    deps.log.warn("oauth: could not record the connection's last use", { connectionId: connection.id, ...describeError(err) });
  }
}

/**
 * An access token from the connection's stored tokens, whatever its recorded state (getAccessToken
 * checks the state first; an administrator's refresh tries the stored tokens of a connection that
 * needs reauthorization too, since fixing consent may have made them work again).
 */
async function useStoredTokens(
  deps: TokenDeps,
  connection: Connection,
  options: { scopes?: string[]; forceRefresh?: boolean },
): Promise<AccessToken> {
  const type = connection.type as ConnectionType;
  const scopes = scopesFor(connection, options.scopes);
  let forceRefresh = options.forceRefresh ?? false;
  const result = await retryOnConflict(async (attempt) => {
    try {
      return await acquire(deps, connection, type, scopes, forceRefresh);
    } catch (err) {
      // Another instance refreshed at the same moment and stored its tokens first: use those.
      if (err instanceof ConcurrentWriteError && attempt < 3) {
        forceRefresh = false;
        return CONFLICT;
      }
      const named = nameEntraError(err, {
        tenant: connection.tenant,
        ...registrationFacts(type, deps.config),
        account: connection.account?.upn,
      });
      if (named) {
        await markState(deps, connection, named.state, named.message, named.code);
        throw new ReauthorizationRequiredError(connection.id, named.message, named.state === 'error' ? 'fix' : 'reauthorize');
      }
      if (needsReauthorization(err)) {
        const reason = reauthReason(err);
        await markState(deps, connection, 'reauthorization_required', reason);
        throw new ReauthorizationRequiredError(connection.id, reason);
      }
      throw err;
    }
  }, 3);
  if (result === CONFLICT) throw new ConcurrentWriteError(connection.id);
  return { accessToken: result.accessToken, expiresOn: result.expiresOn ?? new Date(Date.now() + 3600_000) };
}

async function acquire(
  deps: TokenDeps,
  connection: Connection,
  type: ConnectionType,
  scopes: string[],
  forceRefresh: boolean,
): Promise<AuthenticationResult> {
  const plugin = new EncryptedTableCachePlugin(connection.id, deps.tokenCaches, deps.cipher);
  const client = await deps.msal.create(type, plugin, connection.tenant);
  // MSAL keys the account by client_info's home account (uid.utid), not by the ID token's oid.tid:
  // for a guest they differ. Connections authorized before homeAccountId was kept are members.
  const { homeAccountId, oid, tid } = connection.account!;
  const account: AccountInfo | null = await client.getTokenCache().getAccountByHomeId(homeAccountId ?? `${oid}.${tid}`);
  if (!account) throw new NoStoredTokensError();
  return client.acquireTokenSilent({ account, scopes, forceRefresh });
}

/** The scopes a token is asked for: the given ones, or the connection type's (without the OpenID Connect ones). */
function scopesFor(connection: Connection, scopes: string[] | undefined): string[] {
  return scopes ?? requestedScopes(connection.type as ConnectionType).filter((s) => !OIDC_SCOPES.has(s));
}

function reauthReason(err: unknown): string {
  const e = err as { errorCode?: string; errorMessage?: string; message?: string };
  if (err instanceof NoStoredTokensError || e.errorCode === 'no_tokens_found') return 'no tokens are stored for it.';
  const aadsts = /AADSTS\d+/.exec(e.errorMessage ?? e.message ?? '')?.[0];
  return `the identity platform no longer accepts its refresh token (${[e.errorCode, aadsts].filter(Boolean).join(', ')}).`;
}

/**
 * Records that the connection cannot get tokens: reauthorization_required (the grant is gone), or
 * error (the app's configuration is wrong: its tokens are kept, a refresh retries them once fixed).
 */
async function markState(
  deps: TokenDeps,
  connection: Connection,
  state: NamedEntraError['state'],
  reason: string,
  code?: NamedEntraError['code'],
): Promise<void> {
  for (let current: Connection | undefined = connection; current; current = await deps.connections.get(connection.id)) {
    if (current.state === state) {
      // Already known; only the reason may be newer (an administrator's refresh shows it).
      if (
        (current.lastError === reason && current.lastErrorCode === code) ||
        (await deps.connections.update(current, { lastError: reason, lastErrorCode: code }))
      )
        return;
      continue;
    }
    const updated = await deps.connections.update(current, { state, lastError: reason, lastErrorCode: code });
    if (updated) {
      // Said once, when the state changes, not on every later attempt.
      // Two messages, each matched by its Azure Monitor alert (infra/modules/alerts.bicep).
      const facts = { connectionId: connection.id, ...(code ? { code } : {}), reason };
      if (state === 'error') deps.log.warn('oauth: connection refused by the identity platform', facts);
      else deps.log.warn('oauth: connection needs reauthorization', facts);
      if (deps.notifier) {
        const at = updated.updatedAt;
        const link = deps.notifier.links.connection(connection.id);
        await deps.notifier.notify(
          state === 'error'
            ? events.refused(factsOf(connection), reason, at, link, code)
            : events.reauthorizationRequired(factsOf(connection), reason, at, link, code),
        );
      }
      return;
    }
  }
}

/** Refreshes failed this many times in a row: administrators are told (once per run of failures). */
export const REFRESH_FAILING = 3;

export type RefreshOutcome = 'refreshed' | 'reauthorization_required' | 'failed';

export interface RefreshOptions {
  /**
   * Also try the stored tokens of a connection in state reauthorization_required, and make it
   * authorized again when they work (an administrator's refresh on demand, after fixing consent).
   */
  retryReauthorization?: boolean;
  /** Called with the failure when the outcome is not 'refreshed' (the on-demand refresh reports it). */
  onFailure?: (err: unknown) => void;
}

/** Refreshes one connection's tokens and records the outcome on the connection. */
export async function refreshConnection(
  deps: TokenDeps,
  connection: Connection,
  now = new Date(),
  options: RefreshOptions = {},
): Promise<RefreshOutcome> {
  // A connection in state error still holding its account got there by a refresh the app's
  // configuration failed (a client secret, say): its tokens are kept, and retried once it is fixed.
  const retry =
    options.retryReauthorization === true &&
    (connection.state === 'reauthorization_required' || connection.state === 'error') &&
    connection.account !== undefined;
  let token: AccessToken;
  try {
    token = retry
      ? await useStoredTokens(deps, connection, { forceRefresh: true })
      : await useStoredTokens(deps, await authorizedConnection(deps, connection.id), { forceRefresh: true });
  } catch (err) {
    options.onFailure?.(err);
    if (err instanceof ReauthorizationRequiredError) return 'reauthorization_required';
    const failures = connection.consecutiveFailures + 1;
    const backoffMs = Math.min(2 ** Math.min(failures, 10) * 5 * 60_000, deps.config.refreshMaxAgeHours * 3600_000);
    deps.log.warn('oauth: refresh failed; tokens kept, retried later', { connectionId: connection.id, failures, ...describeError(err) });
    if (failures === REFRESH_FAILING && deps.notifier) {
      await deps.notifier.notify(
        events.refreshFailing(
          factsOf(connection),
          failures,
          describeError(err).message ?? 'error',
          connection.lastRefreshAt ?? connection.createdAt,
          deps.notifier.links.connection(connection.id),
        ),
      );
    }
    await updateLatest(deps, connection.id, {
      consecutiveFailures: failures,
      nextRefreshAt: new Date(now.getTime() + backoffMs),
      lastError: `Refresh failed (${describeError(err).message ?? 'error'}); the tokens are kept and the refresh is retried.`.slice(
        0,
        1000,
      ),
      lastErrorCode: undefined,
    });
    return 'failed';
  }
  await updateLatest(
    deps,
    connection.id,
    {
      ...(retry ? { state: 'authorized' as const } : {}),
      lastRefreshAt: now,
      nextRefreshAt: new Date(now.getTime() + deps.config.refreshMaxAgeHours * 3600_000),
      accessTokenExpiresAt: token.expiresOn,
      consecutiveFailures: 0,
      lastError: undefined,
      lastErrorCode: undefined,
    },
    retry ? ['authorized', 'reauthorization_required', 'error'] : ['authorized'],
  );
  if (retry) deps.log.info('oauth: connection authorized again by a refresh', { connectionId: connection.id });
  const wasDown = (retry && connection.state !== 'authorized') || connection.consecutiveFailures >= REFRESH_FAILING;
  if (wasDown && deps.notifier) {
    await deps.notifier.notify(events.recovered(factsOf(connection), now, deps.notifier.links.connection(connection.id)));
  }
  return 'refreshed';
}

/** Applies `changes` to the connection as it is now, if its state is still one of `states`. */
async function updateLatest(
  deps: TokenDeps,
  id: string,
  changes: Parameters<ConnectionRepository['update']>[1],
  states: Connection['state'][] = ['authorized'],
): Promise<void> {
  await retryOnConflict(async () => {
    const current = await deps.connections.get(id);
    if (!current || !states.includes(current.state)) return undefined;
    return (await deps.connections.update(current, changes)) ?? CONFLICT;
  });
}

/** An access token is renewed when it has less than this left (MSAL's own renewal offset is 5 minutes). */
const EXPIRY_MARGIN_MS = 5 * 60_000;

/** When the refresh timer runs next after `now` (TOKEN_REFRESH_SCHEDULE); at the latest the refresh age away. */
export function nextTimerRun(config: OAuthConfig, now: Date): Date {
  const fallback = new Date(now.getTime() + config.refreshMaxAgeHours * 3600_000);
  const next = nextOccurrence(config.refreshSchedule, now);
  return next && next < fallback ? next : fallback;
}

/**
 * Whether a connection is due: its last refresh is too old, its planned refresh time has come, or
 * its access token expires before the timer's next run (`nextRun`, computed once per run). A
 * connection backing off after failures waits for its planned time, whatever its token.
 */
export function isDue(connection: Connection, config: OAuthConfig, now: Date, nextRun = nextTimerRun(config, now)): boolean {
  if (connection.state !== 'authorized') return false;
  if (connection.nextRefreshAt && connection.nextRefreshAt <= now) return true;
  const last = connection.lastRefreshAt?.getTime() ?? 0;
  if (now.getTime() - last >= config.refreshMaxAgeHours * 3600_000) return true;
  const expires = connection.accessTokenExpiresAt?.getTime();
  return connection.consecutiveFailures === 0 && expires !== undefined && expires - EXPIRY_MARGIN_MS <= nextRun.getTime();
}

/** The timer's work: refresh every due connection, a few at a time; one slow connection does not hold up the rest. */
export async function refreshDueConnections(deps: TokenDeps, now = new Date(), concurrency = 4): Promise<Record<RefreshOutcome, number>> {
  const nextRun = nextTimerRun(deps.config, now);
  const due = (await deps.connections.list()).filter((c) => isDue(c, deps.config, now, nextRun));
  const counts: Record<RefreshOutcome, number> = { refreshed: 0, reauthorization_required: 0, failed: 0 };
  await forEachLimited(due, concurrency, async (c) => {
    counts[await refreshConnection(deps, c, now)]++;
  });
  return counts;
}
