/**
 * The authorization-code flow for a connection: the authorize redirect (state + PKCE S256) and
 * the callback (state check, code exchange with MSAL, validation). When validation fails the
 * authorization is cleared, as the vendor material requires.
 */
import { randomBytes } from 'node:crypto';
import { CryptoProvider, type AuthenticationResult, type ConfidentialClientApplication } from '@azure/msal-node';
import { audit } from '../audit';
import { AppError, BadRequestError, ConfigError, SecretNotFoundError } from '../errors';
import { describeError, type Logger } from '../log';
import {
  ConcurrentWriteError,
  type Connection,
  type ConnectionChanges,
  type ConnectionRepository,
  type Actor,
  type AuditLogRepository,
  type AuthState,
  type AuthStateRepository,
  type TokenCacheRepository,
  CONFLICT,
  retryOnConflict,
} from '../storage';
import type { OAuthConfig } from '../config';
import type { Notifier } from '../notifications';
import { events, factsOf } from '../notifications/events';
import { tokenCacheContext } from './cachePlugin';
import { CONSUMER_TENANT_ID, ConnectionNotFoundError, OIDC_SCOPES } from './errors';
import { checkConnectionId } from './connectionId';
import { nameEntraError, type EntraErrorContext, type NamedEntraError } from './entraErrors';
import { registrationFacts, type MsalClients } from './msalClient';
import { isConnectionType, redirectPath, requestedScopes, requiredScopes, type ConnectionType } from './permissions';
import { TokenDecryptError, type TokenCipher } from './tokenCipher';

const STATE_LIFETIME_MS = 10 * 60 * 1000;

export interface AuthorizeDeps {
  config: OAuthConfig;
  auditLog: AuditLogRepository;
  connections: ConnectionRepository;
  authStates: AuthStateRepository;
  tokenCaches: TokenCacheRepository;
  cipher: TokenCipher;
  msal: MsalClients;
  log: Logger;
  /** Tells administrators when a connection that needed it is authorized again (shared/notifications). */
  notifier?: Notifier;
}

/** The redirect URI of a connection type: the exact URI to register on the app registration. */
export function redirectUri(config: OAuthConfig, type: ConnectionType): string {
  if (!config.publicBaseUrl) {
    throw new ConfigError('PUBLIC_BASE_URL', 'is not set: it is needed to build the redirect URIs (e.g. https://scanrelay.contoso.com).');
  }
  return `${config.publicBaseUrl}${redirectPath(type)}`;
}

/** Starts an authorization: returns the identity platform URL to redirect the administrator to. */
export async function startAuthorization(
  deps: AuthorizeDeps,
  actor: Actor,
  connectionId: string,
  loginHint?: string,
  /** A console path to come back to with the outcome, instead of the callback's own page. */
  returnTo?: string,
): Promise<string> {
  const connection = await deps.connections.get(checkConnectionId(connectionId));
  if (!connection) throw new ConnectionNotFoundError(connectionId);
  const hint = loginHint?.trim();
  if (hint && (hint.length > 256 || /[\u0000-\u001f\u007f]/.test(hint))) {
    throw new BadRequestError(
      'invalid_login_hint',
      'login_hint must be the account to sign in as (a UPN such as scans@contoso.com), at most 256 characters.',
    );
  }
  const type = connection.type as ConnectionType;
  const uri = redirectUri(deps.config, type);
  const pkce = await new CryptoProvider().generatePkceCodes();
  const state = randomBytes(32).toString('base64url');
  // The nonce comes back in the ID token: a token from another sign-in does not match it.
  const nonce = randomBytes(32).toString('base64url');
  const secrets: SealedSignIn = { codeVerifier: pkce.verifier, nonce };
  await deps.authStates.save(state, {
    purpose: 'connection',
    actor,
    ...(returnTo ? { returnTo } : {}),
    connectionId,
    connectionType: type,
    redirectUri: uri,
    sealed: await deps.cipher.encrypt(JSON.stringify(secrets), signInContext(state)),
    expiresAt: new Date(Date.now() + STATE_LIFETIME_MS),
  });
  const client = await deps.msal.create(type, undefined, connection.tenant);
  return client.getAuthCodeUrl({
    scopes: requestedScopes(type),
    redirectUri: uri,
    state,
    codeChallenge: pkce.challenge,
    codeChallengeMethod: 'S256',
    nonce,
    // With a hint the identity platform signs the hinted account in (its sign-in page prefilled,
    // or its session); without one it shows the account picker, so the administrator chooses the
    // account rather than the browser's session. MSAL drops the hint with select_account.
    ...(hint ? { loginHint: hint } : { prompt: 'select_account' }),
    responseMode: 'query',
  });
}

/** What a sign-in keeps secret until its callback, sealed with the TokenCipher in its oauthstates row. */
interface SealedSignIn {
  /** PKCE code verifier (S256), sent with the code exchange. */
  codeVerifier: string;
  /** The nonce sent to the authorize endpoint, which the ID token must carry. */
  nonce: string;
}

/** The additional authenticated data of a sign-in's sealed secrets: its state (never stored). */
const signInContext = (state: string) => `oauthstate:${state}`;

/**
 * Deletes the oauthstates rows of sign-ins that were started and never finished, once expired (the
 * token refresh timer runs it); returns how many were deleted.
 */
export async function deleteExpiredAuthStates(deps: Pick<AuthorizeDeps, 'authStates'>, now = new Date()): Promise<number> {
  return deps.authStates.deleteExpired(now);
}

export interface CallbackQuery {
  code?: string;
  state?: string;
  error?: string;
  error_description?: string;
}

export type CallbackOutcome = (
  { ok: true; connection: Connection } | { ok: false; status: number; title: string; message: string; connectionId?: string }
) & {
  /** The console path the authorization was started from, to go back to. */
  returnTo?: string;
};

/** Completes an authorization from the identity platform's redirect to the callback. */
export async function completeAuthorization(deps: AuthorizeDeps, typeInPath: string, query: CallbackQuery): Promise<CallbackOutcome> {
  if (!isConnectionType(typeInPath)) {
    return { ok: false, status: 404, title: 'Unknown connection type', message: `'${typeInPath}' is not a connection type.` };
  }
  if (!query.state) {
    return { ok: false, status: 400, title: 'Missing state', message: 'The sign-in response has no state. Start again from Authorize.' };
  }
  const consumed = await deps.authStates.consume(query.state);
  if (!consumed.ok) {
    const message =
      consumed.reason === 'expired'
        ? 'The sign-in took longer than 10 minutes. Start again from Authorize.'
        : 'This sign-in response is not valid: it was already used, or it was not started by ScanRelay. Start again from Authorize.';
    return { ok: false, status: 400, title: 'Sign-in not accepted', message };
  }
  const state = consumed.state;
  if (state.purpose !== 'connection') {
    return {
      ok: false,
      status: 400,
      title: 'Sign-in not accepted',
      message: 'This sign-in response belongs to another kind of sign-in. Start again from Authorize.',
    };
  }
  const outcome = await completeConnectionSignIn(deps, typeInPath, query, state);
  return state.returnTo ? { ...outcome, returnTo: state.returnTo } : outcome;
}

async function completeConnectionSignIn(
  deps: AuthorizeDeps,
  typeInPath: ConnectionType,
  query: CallbackQuery,
  state: AuthState,
): Promise<CallbackOutcome> {
  let signIn: SealedSignIn;
  try {
    signIn = JSON.parse(await deps.cipher.decrypt(state.sealed, signInContext(query.state!))) as SealedSignIn;
  } catch (err) {
    if (!(err instanceof TokenDecryptError)) throw err;
    return {
      ok: false,
      status: 400,
      title: 'Sign-in not accepted',
      message: 'This sign-in response is not valid: it was not started by ScanRelay. Start again from Authorize.',
    };
  }
  if (state.connectionType !== typeInPath) {
    return {
      ok: false,
      status: 400,
      title: 'Sign-in not accepted',
      message: "The sign-in response arrived at another connection type's address. Start again from Authorize.",
    };
  }
  const connection = await deps.connections.get(state.connectionId);
  if (!connection)
    return { ok: false, status: 404, title: 'Connection not found', message: `Connection '${state.connectionId}' was deleted.` };

  if (query.error) {
    const description = (query.error_description ?? '').slice(0, 500);
    const named = nameEntraError(description, entraContext(deps, connection, typeInPath, state.redirectUri));
    if (named) {
      // The sign-in was refused before any token: an earlier authorization stays as it was (and so
      // does its state); a connection without one takes the failure's state.
      await deps.connections.update(connection, {
        ...(connection.state === 'authorized' ? {} : { state: named.state }),
        lastError: named.message.slice(0, 1000),
        lastErrorCode: named.code,
      });
      deps.log.warn('oauth: sign-in refused by the identity platform', { connectionId: connection.id, code: named.code });
      return { ok: false, status: 400, title: describeEntraError(query.error), message: named.message, connectionId: connection.id };
    }
    // The sign-in was abandoned or refused before any token: an earlier authorization stays as it was.
    await deps.connections.update(connection, { lastError: `Sign-in failed: ${query.error}. ${description}`.trim().slice(0, 1000) });
    return {
      ok: false,
      status: 400,
      title: describeEntraError(query.error),
      message: explain(description, state.redirectUri),
      connectionId: connection.id,
    };
  }
  if (!query.code) {
    return {
      ok: false,
      status: 400,
      title: 'Missing code',
      message: 'The sign-in response has no authorization code. Start again from Authorize.',
    };
  }

  // The code is exchanged into a client of its own (MSAL's in-memory cache): whatever tokens the
  // connection has stay as they are until the new grant is validated, and then it replaces them.
  const kept = () =>
    `Nothing was changed${connection.state === 'authorized' ? `: '${connection.id}' keeps its earlier authorization` : ''}. Try again in a few minutes: start again from Authorize.`;
  let client: ConfidentialClientApplication;
  try {
    client = await deps.msal.create(typeInPath, undefined, connection.tenant);
  } catch (err) {
    if (err instanceof AppError || err instanceof ConfigError || err instanceof SecretNotFoundError) throw err;
    // The identity platform's metadata could not be read: nothing was asked of it yet.
    deps.log.warn('oauth: the identity platform could not be reached', { connectionId: connection.id, ...describeError(err) });
    return { ok: false, status: 503, title: 'The identity platform could not be reached', message: kept(), connectionId: connection.id };
  }
  let result: AuthenticationResult;
  try {
    result = await client.acquireTokenByCode({
      code: query.code,
      scopes: requestedScopes(typeInPath),
      redirectUri: state.redirectUri,
      codeVerifier: signIn.codeVerifier,
      // MSAL checks the ID token's nonce against it (nonce_mismatch); validate() checks it again.
      nonce: signIn.nonce,
    });
  } catch (err) {
    const e = err as { errorCode?: string; errorMessage?: string };
    deps.log.warn('oauth: code exchange failed', { connectionId: connection.id, ...describeError(err) });
    if (isTransient(err)) {
      return {
        ok: false,
        status: 503,
        title: 'The identity platform is temporarily unavailable',
        message: kept(),
        connectionId: connection.id,
      };
    }
    const named = nameEntraError(err, entraContext(deps, connection, typeInPath, state.redirectUri));
    if (named) {
      await clearAuthorization(deps, connection, named.message, named);
      return {
        ok: false,
        status: 400,
        title: 'The identity platform refused the sign-in',
        message: named.message,
        connectionId: connection.id,
      };
    }
    if (e.errorCode === 'nonce_mismatch') {
      await clearAuthorization(deps, connection, NONCE_MISMATCH);
      return { ok: false, status: 400, title: 'Sign-in not accepted', message: NONCE_MISMATCH, connectionId: connection.id };
    }
    await clearAuthorization(deps, connection, `The code exchange failed: ${e.errorCode ?? 'error'}.`);
    return {
      ok: false,
      status: 400,
      title: 'The identity platform refused the sign-in',
      message: explain(e.errorMessage ?? String(e.errorCode ?? ''), state.redirectUri),
      connectionId: connection.id,
    };
  }

  const cache = client.getTokenCache().serialize();
  const problem = validate(typeInPath, result, signIn.nonce) ?? withoutRefreshToken(cache, result.account!.homeAccountId);
  if (problem) {
    await clearAuthorization(deps, connection, problem);
    return { ok: false, status: 400, title: 'Authorization refused', message: problem, connectionId: connection.id };
  }

  await replaceTokens(deps, connection.id, cache);
  const claims = result.idTokenClaims as { oid?: string; tid?: string; preferred_username?: string; upn?: string };
  const now = new Date();
  const changes: ConnectionChanges = {
    state: 'authorized',
    account: {
      upn: claims.upn ?? claims.preferred_username,
      oid: claims.oid!,
      tid: claims.tid!,
      homeAccountId: result.account!.homeAccountId,
    },
    grantedScopes: result.scopes,
    lastErrorCode: undefined,
    lastRefreshAt: now,
    nextRefreshAt: new Date(now.getTime() + deps.config.refreshMaxAgeHours * 3600_000),
    accessTokenExpiresAt: result.expiresOn ?? undefined,
    consecutiveFailures: 0,
    lastError: undefined,
  };
  // The new authorization is the whole truth about the connection: applied to its latest version
  // (the timer may have written it meanwhile), ETag-guarded.
  const updated = await retryOnConflict(async (attempt) => {
    const current = attempt === 1 ? connection : await deps.connections.get(connection.id);
    if (!current) return undefined;
    return (await deps.connections.update(current, changes)) ?? CONFLICT;
  });
  if (!updated || updated === CONFLICT) {
    if (!(await deps.connections.get(connection.id))) await deps.tokenCaches.delete(connection.id);
    return {
      ok: false,
      status: 409,
      title: 'Connection changed',
      message: 'The connection was changed or deleted while you signed in. Start again from Authorize.',
    };
  }
  deps.log.info('oauth: connection authorized', { connectionId: connection.id, type: typeInPath });
  if (deps.notifier && (connection.state === 'reauthorization_required' || connection.state === 'error') && connection.account) {
    await deps.notifier.notify(events.recovered(factsOf(updated), now, deps.notifier.links.connection(connection.id)));
  }
  await audit(deps, state.actor ?? { kind: 'system', name: 'sign-in' }, 'connection.authorize', `connection:${connection.id}`, {
    before: { state: connection.state, account: connection.account?.upn },
    after: { state: 'authorized', account: changes.account?.upn ?? changes.account?.oid, grantedScopes: result.scopes },
  });
  return { ok: true, connection: updated };
}

/** Seals the new token cache and puts it in place of the connection's, whatever was there. */
async function replaceTokens(deps: AuthorizeDeps, connectionId: string, cache: string): Promise<void> {
  const sealed = await deps.cipher.encrypt(cache, tokenCacheContext(connectionId));
  const outcome = await retryOnConflict(async () => {
    const current = await deps.tokenCaches.read(connectionId);
    try {
      await deps.tokenCaches.write(connectionId, sealed, current?.etag);
      return 'written';
    } catch (err) {
      // A refresh of the old grant wrote meanwhile: read its ETag again and replace it.
      if (err instanceof ConcurrentWriteError) return CONFLICT;
      throw err;
    }
  });
  if (outcome === CONFLICT) throw new ConcurrentWriteError(connectionId);
}

/**
 * offline_access is required: without a refresh token the authorization would stop working when
 * the first access token expires. Entra leaves the scope out of the response's `scope`, so what
 * tells is whether the code redemption brought a refresh token for the account.
 */
function withoutRefreshToken(cache: string, homeAccountId: string): string | undefined {
  const parsed = JSON.parse(cache) as { RefreshToken?: Record<string, { home_account_id?: string; secret?: string }> };
  const found = Object.values(parsed.RefreshToken ?? {}).some((rt) => rt.home_account_id === homeAccountId && !!rt.secret);
  return found
    ? undefined
    : 'The sign-in gave no refresh token: the permission offline_access (Maintain access to data you have given it access to) was not granted. Grant it to the app (an administrator can consent for the organization), then authorize again.';
}

/**
 * A failure that says nothing about the grant, so an earlier authorization must stay: the network
 * (MSAL's network_error), a 5xx or 429 answer (AADSTS90033 "a transient error", 50196), or MSAL's
 * throttling of those (errorCode: the answer's error codes).
 */
function isTransient(err: unknown): boolean {
  const e = err as { errorCode?: string; errorMessage?: string; status?: number };
  if (typeof e?.status === 'number' && (e.status === 429 || e.status >= 500)) return true;
  if (['network_error', 'temporarily_unavailable', 'server_error', 'request_timeout'].includes(e?.errorCode ?? '')) return true;
  return /^(90033|50196)$/.test(e?.errorCode ?? '') || /AADSTS(90033|50196)\b/.test(e?.errorMessage ?? '');
}

const NONCE_MISMATCH =
  "The ID token does not belong to the sign-in ScanRelay started (its nonce is another sign-in's). Start again from Authorize.";

function validate(type: ConnectionType, result: AuthenticationResult, nonce: string): string | undefined {
  const claims = result.idTokenClaims as { oid?: string; tid?: string; idp?: string; nonce?: string };
  if (claims?.nonce !== nonce) return NONCE_MISMATCH;
  if (!claims?.oid || !claims.tid || !result.account?.homeAccountId)
    return 'The sign-in returned no account identity (oid, tid). Authorize again.';
  if (isPersonalAccount(claims, result.account.homeAccountId)) {
    return 'Personal Microsoft accounts are not supported (also not when invited as a guest). Sign in with a work or school account.';
  }
  const granted = new Set(result.scopes.map((s) => s.toLowerCase()));
  const missing = requiredScopes(type).filter((s) => !OIDC_SCOPES.has(s) && !granted.has(s.toLowerCase()) && !granted.has(shortName(s)));
  if (missing.length) {
    return `The permission ${missing.join(', ')} was not granted. An administrator must consent to it, then authorize again.`;
  }
  return undefined;
}

/**
 * A personal Microsoft account: signed in to the consumer tenant, or invited as a guest, whose ID
 * token names this tenant but whose home tenant (client_info's utid, the second half of MSAL's
 * homeAccountId; the ID token's idp) is the consumer tenant.
 */
function isPersonalAccount(claims: { tid?: string; idp?: string }, homeAccountId: string): boolean {
  const consumer = CONSUMER_TENANT_ID.toLowerCase();
  const homeTenant = homeAccountId.slice(homeAccountId.lastIndexOf('.') + 1).toLowerCase();
  const idp = (claims.idp ?? '').toLowerCase();
  return claims.tid?.toLowerCase() === consumer || homeTenant === consumer || idp.includes(consumer) || idp === 'live.com';
}

/** Entra reports Graph scopes both as full URIs and as short names. */
function shortName(scope: string): string {
  return scope.replace(/^https:\/\/graph\.microsoft\.com\//i, '').toLowerCase();
}

async function clearAuthorization(deps: AuthorizeDeps, connection: Connection, reason: string, named?: NamedEntraError): Promise<void> {
  await deps.tokenCaches.delete(connection.id);
  const fresh = (await deps.connections.get(connection.id)) ?? connection;
  await deps.connections.update(fresh, {
    state: named?.state ?? 'error',
    account: undefined,
    grantedScopes: [],
    lastError: reason.slice(0, 1000),
    lastErrorCode: named?.code,
  });
}

/** What the sentences of entraErrors.ts may name about a sign-in (nothing secret; no account: the one that tried is not the connection's earlier one). */
function entraContext(deps: AuthorizeDeps, connection: Connection, type: ConnectionType, redirect: string): EntraErrorContext {
  return { tenant: connection.tenant, ...registrationFacts(type, deps.config), redirectUri: redirect };
}

function describeEntraError(error: string): string {
  if (error === 'access_denied') return 'Consent was not given';
  return 'The sign-in did not complete';
}

/** Words an administrator can act on, with the exact redirect URI for AADSTS50011. */
function explain(description: string, redirect: string): string {
  if (/AADSTS50011/.test(description)) {
    return `The app registration does not list this redirect URI. Add exactly ${redirect} as a Web redirect URI, then authorize again.`;
  }
  if (/AADSTS65004|declined/i.test(description))
    return 'The account did not consent to the permissions ScanRelay asks for. Authorize again and accept, or ask an administrator to grant consent.';
  return description ? `The identity platform said: ${description}` : 'The sign-in failed. Authorize again.';
}
