/**
 * Administrators' sign-in to the console.
 *
 * - Microsoft Entra ID: OpenID Connect authorization code flow with PKCE (S256) and a nonce,
 *   through MSAL, with the default app registration, for users of one tenant. The `state` row
 *   (oauthstates, purpose `console`) holds the PKCE verifier, the nonce and a browser binding
 *   sealed; the binding's value is also a short-lived cookie, so a sign-in response can only be
 *   completed in the browser that started it (no login CSRF). The ID token must name the tenant
 *   (`tid`), the user (`oid`) and the nonce; the app roles come from its `roles` claim
 *   (https://learn.microsoft.com/entra/identity-platform/howto-add-app-roles-in-apps).
 * - Development (npm start without Entra settings, never in Azure): a one-time link with a random
 *   token, printed by the local host; opening it signs in as the local developer, an administrator.
 */
import { randomBytes } from 'node:crypto';
import { CryptoProvider, type AuthenticationResult } from '@azure/msal-node';
import type { ConsoleConfig } from '../config';
import { ConfigError } from '../errors';
import { describeError, type Logger } from '../log';
import type { MsalClients } from '../oauth/msalClient';
import { TokenDecryptError, type TokenCipher } from '../oauth/tokenCipher';
import { secretsEqual } from '../secrets';
import type { AuthStateRepository } from '../storage';
import { ADMIN_ROLE, READER_ROLE, consoleCookie, readCookie, type AppRole, type Session, type Sessions, type SetCookie } from './session';

export const CONSOLE_PATH = '/api/console';
export const SIGN_IN_CALLBACK_PATH = `${CONSOLE_PATH}/signin-callback`;
export const DEVELOPMENT_SIGN_IN_PATH = `${CONSOLE_PATH}/dev-signin`;
const BINDING_COOKIE = '__Host-scanrelay-signin';
const SIGN_IN_LIFETIME_MS = 10 * 60 * 1000;
const DEVELOPMENT_LINK_LIFETIME_MS = 24 * 3600 * 1000;
const OIDC_SCOPES = ['openid', 'profile'];

export interface SignInDeps {
  config: ConsoleConfig;
  /** The app's public URL (PUBLIC_BASE_URL), from which the redirect URI is built. */
  publicBaseUrl?: string;
  authStates: AuthStateRepository;
  cipher: TokenCipher;
  msal: MsalClients;
  sessions: Sessions;
  log: Logger;
}

export type SignInOutcome =
  | { ok: true; session: Session; cookies: SetCookie[]; returnTo: string }
  | { ok: false; status: number; title: string; message: string; cookies: SetCookie[] };

/** The redirect URI to register on the app registration for the console (Web platform). */
export function consoleRedirectUri(deps: Pick<SignInDeps, 'publicBaseUrl'>): string {
  if (!deps.publicBaseUrl) {
    throw new ConfigError(
      'PUBLIC_BASE_URL',
      "is not set: it is needed to build the console's redirect URI (e.g. https://scanrelay.contoso.com).",
    );
  }
  return `${deps.publicBaseUrl}${SIGN_IN_CALLBACK_PATH}`;
}

/**
 * A path of the console to go back to after signing in; anything else (another site, a path
 * outside the console, `//host`) gives the console's start page.
 */
export function safeReturnTo(value: string | null | undefined): string {
  if (!value || value.length > 1000) return CONSOLE_PATH;
  if (!/^\/api\/console(?:[/?][^\\\s#]*)?$/.test(value) || value.includes('//') || /%2f|%5c/i.test(value)) return CONSOLE_PATH;
  return value;
}

interface SealedConsoleSignIn {
  codeVerifier: string;
  nonce: string;
  /** The value of the binding cookie set in the browser that started the sign-in. */
  binding: string;
}

const stateContext = (state: string) => `consolestate:${state}`;

const bindingCookie = (value: string, maxAge: number): SetCookie => consoleCookie(BINDING_COOKIE, value, maxAge);

/** Starts a sign-in with Entra ID: the authorize URL to redirect to, and the binding cookie. */
export async function startSignIn(deps: SignInDeps, returnTo?: string): Promise<{ location: string; cookies: SetCookie[] }> {
  const signIn = deps.config.signIn;
  if (signIn.kind !== 'entra') throw new ConfigError('CONSOLE_SIGN_IN', 'is not Entra ID: there is no sign-in with Microsoft to start.');
  const redirectUri = consoleRedirectUri(deps);
  const pkce = await new CryptoProvider().generatePkceCodes();
  const state = randomBytes(32).toString('base64url');
  const sealed: SealedConsoleSignIn = {
    codeVerifier: pkce.verifier,
    nonce: randomBytes(32).toString('base64url'),
    binding: randomBytes(32).toString('base64url'),
  };
  await deps.authStates.save(state, {
    purpose: 'console',
    returnTo: safeReturnTo(returnTo),
    connectionId: '',
    connectionType: '',
    redirectUri,
    sealed: await deps.cipher.encrypt(JSON.stringify(sealed), stateContext(state)),
    expiresAt: new Date(Date.now() + SIGN_IN_LIFETIME_MS),
  });
  const client = await deps.msal.createApplication(signIn.tenantId);
  const location = await client.getAuthCodeUrl({
    scopes: OIDC_SCOPES,
    redirectUri,
    state,
    codeChallenge: pkce.challenge,
    codeChallengeMethod: 'S256',
    nonce: sealed.nonce,
    responseMode: 'query',
  });
  return { location, cookies: [bindingCookie(sealed.binding, SIGN_IN_LIFETIME_MS / 1000)] };
}

export interface SignInCallbackQuery {
  code?: string;
  state?: string;
  error?: string;
  error_description?: string;
}

/** Completes a sign-in from the identity platform's redirect: a new session, or why not. */
export async function completeSignIn(deps: SignInDeps, query: SignInCallbackQuery, cookieHeader: string | null): Promise<SignInOutcome> {
  const cookies = [bindingCookie('', 0)];
  const refuse = (status: number, title: string, message: string): SignInOutcome => ({ ok: false, status, title, message, cookies });
  const again = 'Sign in again from the console.';
  const signIn = deps.config.signIn;
  if (signIn.kind !== 'entra') return refuse(404, 'No sign-in with Microsoft', 'The console does not use Microsoft Entra ID sign-in.');
  if (!query.state) return refuse(400, 'Sign-in not accepted', `The sign-in response has no state. ${again}`);
  const consumed = await deps.authStates.consume(query.state);
  if (!consumed.ok || consumed.state.purpose !== 'console') {
    const expired = !consumed.ok && consumed.reason === 'expired';
    return refuse(
      400,
      'Sign-in not accepted',
      expired
        ? `The sign-in took longer than 10 minutes. ${again}`
        : `This sign-in response is not valid: it was already used, or ScanRelay did not start it. ${again}`,
    );
  }
  let sealed: SealedConsoleSignIn;
  try {
    sealed = JSON.parse(await deps.cipher.decrypt(consumed.state.sealed, stateContext(query.state))) as SealedConsoleSignIn;
  } catch (err) {
    if (!(err instanceof TokenDecryptError)) throw err;
    return refuse(400, 'Sign-in not accepted', `This sign-in response is not valid: ScanRelay did not start it. ${again}`);
  }
  const binding = readCookie(cookieHeader, BINDING_COOKIE);
  if (!binding || !secretsEqual(binding, sealed.binding)) {
    return refuse(400, 'Sign-in not accepted', `This sign-in was started in another browser (or its cookie was blocked). ${again}`);
  }
  if (query.error) {
    const description = (query.error_description ?? '').slice(0, 500);
    return refuse(
      400,
      query.error === 'access_denied' ? 'Consent was not given' : 'The sign-in did not complete',
      description ? `The identity platform said: ${description}` : again,
    );
  }
  if (!query.code) return refuse(400, 'Missing code', `The sign-in response has no authorization code. ${again}`);

  let result: AuthenticationResult;
  try {
    const client = await deps.msal.createApplication(signIn.tenantId);
    result = await client.acquireTokenByCode({
      code: query.code,
      scopes: OIDC_SCOPES,
      redirectUri: consumed.state.redirectUri,
      codeVerifier: sealed.codeVerifier,
      nonce: sealed.nonce,
    });
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    deps.log.warn('console: sign-in code exchange failed', describeError(err));
    const e = err as { errorCode?: string; status?: number };
    if (e.errorCode === 'network_error' || (typeof e.status === 'number' && (e.status >= 500 || e.status === 429))) {
      return refuse(503, 'The identity platform could not be reached', `Try again in a few minutes. ${again}`);
    }
    return refuse(400, 'The identity platform refused the sign-in', `${e.errorCode ?? 'The code exchange failed'}. ${again}`);
  }
  const claims = (result.idTokenClaims ?? {}) as {
    oid?: string;
    tid?: string;
    nonce?: string;
    preferred_username?: string;
    name?: string;
    roles?: unknown;
  };
  if (claims.nonce !== sealed.nonce) {
    return refuse(400, 'Sign-in not accepted', `The ID token belongs to another sign-in (its nonce does not match). ${again}`);
  }
  if (!claims.oid || claims.tid?.toLowerCase() !== signIn.tenantId) {
    // Also a personal account or a user of another tenant that added the app and assigned itself roles.
    return refuse(403, 'Another organization', `Only accounts of the tenant ${signIn.tenantId} can sign in to this console.`);
  }
  const roles = appRoles(claims.roles);
  const user = { oid: claims.oid, tid: claims.tid.toLowerCase(), upn: claims.preferred_username ?? claims.oid, name: claims.name };
  const started = await deps.sessions.start(user, roles, 'entra');
  deps.log.info('console: signed in', { oid: user.oid, roles: roles.join(',') || 'none' });
  return { ok: true, session: started.session, cookies: [...cookies, started.cookie], returnTo: safeReturnTo(consumed.state.returnTo) };
}

/** ScanRelay's roles among a `roles` claim (Admin implies Reader). */
function appRoles(claim: unknown): AppRole[] {
  const given = new Set(Array.isArray(claim) ? claim.filter((r): r is string => typeof r === 'string') : []);
  return [ADMIN_ROLE, READER_ROLE].filter((r) => given.has(r)) as AppRole[];
}

/** A one-time development sign-in link (24 hours), for the local host to print. */
export async function createDevelopmentSignIn(deps: SignInDeps, baseUrl: string): Promise<string> {
  if (deps.config.signIn.kind !== 'development')
    throw new ConfigError('CONSOLE_SIGN_IN', 'is not development: there are no sign-in links.');
  const token = randomBytes(32).toString('base64url');
  await deps.authStates.save(token, {
    purpose: 'development',
    connectionId: '',
    connectionType: '',
    redirectUri: '',
    sealed: await deps.cipher.encrypt('development', stateContext(token)),
    expiresAt: new Date(Date.now() + DEVELOPMENT_LINK_LIFETIME_MS),
  });
  return `${baseUrl}${DEVELOPMENT_SIGN_IN_PATH}?token=${token}`;
}

export const LOCAL_DEVELOPER = { oid: 'local-developer', upn: 'developer@localhost', name: 'Local developer' };

/** Signs in with a development link (once). */
export async function completeDevelopmentSignIn(deps: SignInDeps, token: string | null): Promise<SignInOutcome> {
  const refuse = (message: string): SignInOutcome => ({ ok: false, status: 400, title: 'Sign-in link not accepted', message, cookies: [] });
  if (deps.config.signIn.kind !== 'development') return refuse('The development sign-in is off.');
  if (!token || token.length > 100) return refuse('The link has no token.');
  const consumed = await deps.authStates.consume(token);
  if (!consumed.ok || consumed.state.purpose !== 'development') {
    return refuse('This link was already used, has expired, or was not made by ScanRelay. Run `npm run console-link` for a new one.');
  }
  const started = await deps.sessions.start(LOCAL_DEVELOPER, [ADMIN_ROLE, READER_ROLE], 'development');
  return { ok: true, session: started.session, cookies: [started.cookie], returnTo: CONSOLE_PATH };
}
