/**
 * Who may use the admin API and the console, and how a request proves it:
 *
 * - the admin key, for scripts: header `x-functions-key` equal to the secret `admin-key` (never a
 *   URL parameter: URLs end up in browser history and proxy logs). It may do everything.
 * - the console's session cookie (session.ts), after a sign-in (signIn.ts): app role
 *   `ScanRelay.Reader` to read, `ScanRelay.Admin` to change. A change made with the cookie also
 *   needs the session's CSRF token and, when the browser names one, an Origin of this app.
 *
 * The admin endpoints are anonymous at the Functions host and checked here, so that both work
 * in Azure too (the host would otherwise refuse every request without its own key).
 */
import type { Actor } from '../storage';
import { AppError, UnauthorizedError } from '../errors';
import type { SecretStore } from '../secrets';
import { secretsEqual } from '../secrets';
import { ADMIN_ROLE, READER_ROLE, csrfTokenValid, type AppRole, type Session, type Sessions, type SetCookie } from './session';

export const ADMIN_KEY_SECRET = 'admin-key';

export type Access = 'read' | 'write';

export interface Caller {
  actor: Actor;
  roles: AppRole[];
  via: 'key' | 'session';
  session?: Session;
  /** The session's cookie sealed again (its idle time restarted): send it with the answer. */
  renewed?: SetCookie;
}

/** What access needs to know of a request. */
export interface AccessRequest {
  method: string;
  url: string;
  headers: { get(name: string): string | null };
}

export interface AccessDeps {
  secrets: Pick<SecretStore, 'tryGet'>;
  sessions: Sessions;
  /** PUBLIC_BASE_URL: the origin browsers show for this app (besides the request's own). */
  publicBaseUrl?: string;
}

export type Identified = { ok: true; caller: Caller } | { ok: false; reason: 'none' | 'expired' | 'wrong_key' };

/** Who sent a request: the admin key, a console session, or nobody. */
export async function identify(deps: AccessDeps, request: AccessRequest): Promise<Identified> {
  const key = request.headers.get('x-functions-key');
  if (key !== null) {
    const expected = await deps.secrets.tryGet(ADMIN_KEY_SECRET);
    if (!expected || !secretsEqual(key, expected)) return { ok: false, reason: 'wrong_key' };
    return { ok: true, caller: { actor: { kind: 'key' }, roles: [ADMIN_ROLE, READER_ROLE], via: 'key' } };
  }
  const opened = await deps.sessions.open(request.headers.get('cookie'));
  if (!opened.ok) return { ok: false, reason: opened.reason === 'expired' ? 'expired' : 'none' };
  const { session } = opened;
  return {
    ok: true,
    caller: {
      actor: { kind: 'user', oid: session.user.oid, upn: session.user.upn, ...(session.user.name ? { name: session.user.name } : {}) },
      roles: session.roles,
      via: 'session',
      session,
      ...(opened.renewed ? { renewed: opened.renewed } : {}),
    },
  };
}

/** Whether a caller holds the role an access needs. */
export function mayAccess(caller: Pick<Caller, 'roles'>, need: Access): boolean {
  return caller.roles.includes(ADMIN_ROLE) || (need === 'read' && caller.roles.includes(READER_ROLE));
}

export const roleFor = (need: Access): AppRole => (need === 'write' ? ADMIN_ROLE : READER_ROLE);

/**
 * The caller of an admin request, checked for `need` (a change: `write`); throws the 401 or 403
 * to answer with. `csrf` is the token the request carried (header or form field).
 */
export async function authorizeRequest(deps: AccessDeps, request: AccessRequest, need: Access, csrf?: string | null): Promise<Caller> {
  const identified = await identify(deps, request);
  if (!identified.ok) {
    if (identified.reason === 'expired') throw new AppError('session_expired', 'The console session has ended. Sign in again.');
    throw new UnauthorizedError(
      identified.reason === 'wrong_key'
        ? 'The admin key (x-functions-key) is wrong.'
        : 'This endpoint needs the admin key (x-functions-key header) or a console session.',
    );
  }
  const { caller } = identified;
  if (!mayAccess(caller, need)) {
    throw new AppError(
      'forbidden',
      `${caller.actor.kind === 'user' ? caller.actor.upn : 'This account'} needs the app role ${roleFor(need)} for this.`,
    );
  }
  // With the cookie, a change is a POST (PUT, DELETE...) from the console's page, never a link.
  if (caller.via === 'session' && (need === 'write' || isChange(request.method))) {
    checkSameOrigin(deps, request, caller.session!, isChange(request.method) ? (csrf ?? request.headers.get('x-csrf-token')) : null);
  }
  return caller;
}

export const isChange = (method: string) => !['GET', 'HEAD', 'OPTIONS'].includes(method.toUpperCase());

/** A change made with the session cookie must come from the console: its CSRF token, its origin. */
export function checkSameOrigin(
  deps: Pick<AccessDeps, 'publicBaseUrl'>,
  request: AccessRequest,
  session: Session,
  csrf: string | null | undefined,
): void {
  const origin = request.headers.get('origin');
  const allowed = [new URL(request.url).origin, deps.publicBaseUrl && new URL(deps.publicBaseUrl).origin].filter(Boolean);
  const site = request.headers.get('sec-fetch-site');
  const foreign = origin !== null ? !allowed.includes(origin) : site !== null && site !== 'same-origin' && site !== 'none';
  if (foreign || !csrfTokenValid(session, csrf)) {
    throw new AppError(
      'csrf_refused',
      'This change did not come from the console (its CSRF token or origin is wrong). Reload the page and try again.',
    );
  }
}

export * from './session';
export * from './signIn';
