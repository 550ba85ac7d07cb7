/**
 * The console's session: a cookie whose value is the session sealed with the TokenCipher
 * (AES-256-GCM, the `token-encryption-keys` ring, its own additional data), so it is encrypted
 * and authenticated and nothing is stored server-side. It ends when unused for the idle time or
 * at the absolute time after sign-in, whichever comes first; an active session's cookie is
 * sealed again (with its new last-seen time) at most once a minute.
 *
 * The cookie is `__Host-` prefixed (Secure, Path=/, no Domain: no other host can set or read
 * it), HttpOnly and SameSite=Lax. Changes also need the session's CSRF token (see csrfToken).
 */
import { createHash } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { secretsEqual } from '../secrets';
import { TokenDecryptError, type TokenCipher } from '../oauth/tokenCipher';

export const SESSION_COOKIE = '__Host-scanrelay-session';

/** The app roles of the app registration (docs/permissions.md; the app-registration tool creates them). */
export const ADMIN_ROLE = 'ScanRelay.Admin';
export const READER_ROLE = 'ScanRelay.Reader';
export type AppRole = typeof ADMIN_ROLE | typeof READER_ROLE;

export interface SessionUser {
  /** Object id (the ID token's oid); `local-developer` for the development sign-in. */
  oid: string;
  /** Tenant (tid); absent for the development sign-in. */
  tid?: string;
  upn: string;
  name?: string;
}

export interface Session {
  /** Random; the CSRF token is derived from it. */
  sid: string;
  user: SessionUser;
  /** ScanRelay's app roles the user holds (others are dropped). */
  roles: AppRole[];
  via: 'entra' | 'development';
  /** Sign-in time, ms since the epoch. */
  issuedAt: number;
  /** Last use, ms since the epoch. */
  seenAt: number;
}

/** A cookie to set, in the shape HTTP responses take (Path and flags included). */
export interface SetCookie {
  name: string;
  value: string;
  path: string;
  httpOnly: boolean;
  secure: boolean;
  sameSite: 'Lax' | 'Strict';
  /** Seconds; 0 deletes the cookie; absent: until the browser closes. */
  maxAge?: number;
}

export type OpenedSession =
  | { ok: true; session: Session; /** A re-sealed cookie to send back (its last-seen time moved on). */ renewed?: SetCookie }
  | { ok: false; reason: 'none' | 'expired' | 'invalid' };

const CONTEXT = 'console-session';
/** An active session's cookie is written again at most this often. */
const RENEW_AFTER_MS = 60_000;

export interface SessionLimits {
  idleMs: number;
  maxMs: number;
}

export class Sessions {
  constructor(
    private readonly cipher: TokenCipher,
    private readonly limits: SessionLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new session for a user who just signed in, and the cookie that carries it. */
  async start(user: SessionUser, roles: AppRole[], via: Session['via']): Promise<{ session: Session; cookie: SetCookie }> {
    const at = this.now();
    const session: Session = { sid: randomBytes(32).toString('base64url'), user, roles, via, issuedAt: at, seenAt: at };
    return { session, cookie: await this.cookie(session) };
  }

  /** The session a request's Cookie header carries, if it is genuine and current. */
  async open(cookieHeader: string | null | undefined): Promise<OpenedSession> {
    const value = readCookie(cookieHeader, SESSION_COOKIE);
    if (!value) return { ok: false, reason: 'none' };
    let session: Session;
    try {
      session = JSON.parse(await this.cipher.decrypt(value, CONTEXT)) as Session;
    } catch (err) {
      // Tampered with, from another deployment, or sealed with a key the ring no longer has.
      if (err instanceof TokenDecryptError || err instanceof SyntaxError) return { ok: false, reason: 'invalid' };
      throw err;
    }
    const now = this.now();
    if (now - session.seenAt > this.limits.idleMs || now - session.issuedAt > this.limits.maxMs) return { ok: false, reason: 'expired' };
    if (now - session.seenAt < RENEW_AFTER_MS) return { ok: true, session };
    const renewedSession = { ...session, seenAt: now };
    return { ok: true, session: renewedSession, renewed: await this.cookie(renewedSession) };
  }

  private async cookie(session: Session): Promise<SetCookie> {
    return sessionCookie(await this.cipher.encrypt(JSON.stringify(session), CONTEXT));
  }
}

/**
 * The console's one cookie policy (the session, the sign-in binding, the flash message): host-only
 * (`__Host-` names), every path, HTTPS only, out of scripts' reach, not sent on other sites' posts.
 * No `maxAge`: it goes with the browser.
 */
export function consoleCookie(name: string, value: string, maxAge?: number): SetCookie {
  return { name, value, path: '/', httpOnly: true, secure: true, sameSite: 'Lax', ...(maxAge !== undefined ? { maxAge } : {}) };
}

export const sessionCookie = (value: string, maxAge?: number): SetCookie => consoleCookie(SESSION_COOKIE, value, maxAge);

/** The Set-Cookie that ends the session in the browser (sign-out). */
export const clearSessionCookie = (): SetCookie => sessionCookie('', 0);

/**
 * The session's CSRF token: a hash of its random id, so it is fixed for the session, cannot be
 * guessed without the (encrypted) cookie, and needs no storage. Forms carry it as `_csrf`, scripts
 * as the `x-csrf-token` header.
 */
export function csrfToken(session: Session): string {
  return createHash('sha256').update(`scanrelay-csrf|${session.sid}`).digest('base64url');
}

export function csrfTokenValid(session: Session, given: string | null | undefined): boolean {
  return !!given && secretsEqual(given, csrfToken(session));
}

/** One cookie's value from a Cookie header (the first of that name), or undefined. */
export function readCookie(header: string | null | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim() || undefined;
  }
  return undefined;
}
