/** Console sessions and who may do what: sealed cookies, expiry, CSRF and Origin, the admin key, return paths. */
import {
  ADMIN_ROLE,
  READER_ROLE,
  SESSION_COOKIE,
  Sessions,
  authorizeRequest,
  csrfToken,
  safeReturnTo,
  type AccessRequest,
  type AppRole,
} from '../../shared/access';
import { AppError } from '../../shared/errors';
import { TokenCipher, newKeyRingSecret, parseKeyRing } from '../../shared/oauth';

const ring = parseKeyRing(newKeyRingSecret('k1'));
const cipher = new TokenCipher(() => Promise.resolve(ring));
const MIN = 60_000;
let now = Date.UTC(2026, 11, 1, 9);
const sessions = new Sessions(cipher, { idleMs: 30 * MIN, maxMs: 12 * 60 * MIN }, () => now);
const user = { oid: 'o1', tid: 't1', upn: 'admin@contoso.example', name: 'Ada' };

const cookieOf = (value: string) => `other=1; ${SESSION_COOKIE}=${value}`;

describe('Sessions', () => {
  beforeEach(() => (now = Date.UTC(2026, 11, 1, 9)));

  it('seals the session into an HttpOnly, Secure, SameSite=Lax __Host- cookie that opens again', async () => {
    const { session, cookie } = await sessions.start(user, [ADMIN_ROLE], 'entra');
    expect(cookie).toMatchObject({ name: '__Host-scanrelay-session', path: '/', httpOnly: true, secure: true, sameSite: 'Lax' });
    expect(cookie.value).not.toContain('admin@contoso');
    const opened = await sessions.open(cookieOf(cookie.value));
    expect(opened).toEqual({ ok: true, session });
  });

  it('refuses a tampered cookie, one sealed for another purpose, and none', async () => {
    const { cookie } = await sessions.start(user, [ADMIN_ROLE], 'entra');
    const parts = cookie.value.split('.');
    parts[4] = parts[4]!.slice(0, -2) + (parts[4]!.endsWith('A') ? 'BB' : 'AA');
    await expect(sessions.open(cookieOf(parts.join('.')))).resolves.toEqual({ ok: false, reason: 'invalid' });
    const forged = await cipher.encrypt(
      JSON.stringify({ sid: 'x', user, roles: [ADMIN_ROLE], issuedAt: now, seenAt: now }),
      'tokencache:x',
    );
    await expect(sessions.open(cookieOf(forged))).resolves.toEqual({ ok: false, reason: 'invalid' });
    await expect(sessions.open('other=1')).resolves.toEqual({ ok: false, reason: 'none' });
    await expect(sessions.open(cookieOf('not-a-seal'))).resolves.toEqual({ ok: false, reason: 'invalid' });
  });

  it('ends after the idle time, and at the absolute time even when used', async () => {
    const { cookie } = await sessions.start(user, [READER_ROLE], 'entra');
    now += 31 * MIN;
    await expect(sessions.open(cookieOf(cookie.value))).resolves.toEqual({ ok: false, reason: 'expired' });

    now = Date.UTC(2026, 11, 1, 9);
    let value = (await sessions.start(user, [READER_ROLE], 'entra')).cookie.value;
    for (let i = 0; i < 30; i++) {
      now += 29 * MIN; // used every 29 minutes: never idle...
      const opened = await sessions.open(cookieOf(value));
      if (!opened.ok) {
        expect(opened.reason).toBe('expired');
        // ...but not past 12 hours after the sign-in.
        expect(now - Date.UTC(2026, 11, 1, 9)).toBeGreaterThan(12 * 60 * MIN);
        return;
      }
      value = opened.renewed!.value;
    }
    throw new Error('the session never ended');
  });

  it('renews the cookie at most once a minute', async () => {
    const { cookie } = await sessions.start(user, [READER_ROLE], 'entra');
    now += 30_000;
    expect((await sessions.open(cookieOf(cookie.value))) as { renewed?: unknown }).not.toHaveProperty('renewed');
    now += 40_000;
    const opened = await sessions.open(cookieOf(cookie.value));
    expect(opened.ok && opened.renewed && opened.session.seenAt).toBe(now);
  });
});

describe('authorizeRequest', () => {
  const KEY = 'the-admin-key-0123456789';
  const deps = {
    secrets: { tryGet: (n: string) => Promise.resolve(n === 'admin-key' ? KEY : undefined) },
    sessions,
    publicBaseUrl: 'https://scanrelay.contoso.example',
  };
  const request = (method: string, headers: Record<string, string>): AccessRequest => ({
    method,
    url: 'http://localhost:7071/api/connections',
    headers: new Headers(headers),
  });
  const sessionOf = async (roles: AppRole[]) => {
    const { session, cookie } = await sessions.start(user, roles, 'entra');
    return { session, cookie: cookieOf(cookie.value), csrf: csrfToken(session) };
  };
  const code = async (p: Promise<unknown>) => {
    try {
      await p;
      return 'allowed';
    } catch (err) {
      if (err instanceof AppError) return err.code;
      throw err;
    }
  };

  it('takes the admin key from x-functions-key only, for everything', async () => {
    await expect(code(authorizeRequest(deps, request('POST', { 'x-functions-key': KEY }), 'write'))).resolves.toBe('allowed');
    await expect(code(authorizeRequest(deps, request('GET', { 'x-functions-key': 'wrong' }), 'read'))).resolves.toBe('unauthorized');
    await expect(code(authorizeRequest(deps, request('GET', {}), 'read'))).resolves.toBe('unauthorized');
  });

  it('gives a Reader reads, an Admin changes, and no role nothing', async () => {
    const reader = await sessionOf([READER_ROLE]);
    const admin = await sessionOf([ADMIN_ROLE]);
    const none = await sessionOf([]);
    const post = (s: typeof reader) => request('POST', { cookie: s.cookie, 'x-csrf-token': s.csrf, origin: 'http://localhost:7071' });
    await expect(code(authorizeRequest(deps, request('GET', { cookie: reader.cookie }), 'read'))).resolves.toBe('allowed');
    await expect(code(authorizeRequest(deps, post(reader), 'write'))).resolves.toBe('forbidden');
    await expect(code(authorizeRequest(deps, post(admin), 'write'))).resolves.toBe('allowed');
    await expect(code(authorizeRequest(deps, request('GET', { cookie: none.cookie }), 'read'))).resolves.toBe('forbidden');
  });

  it('refuses a change with the cookie without the CSRF token, with a wrong one, or from another origin', async () => {
    const admin = await sessionOf([ADMIN_ROLE]);
    const other = await sessionOf([ADMIN_ROLE]);
    const change = (h: Record<string, string>) => code(authorizeRequest(deps, request('POST', { cookie: admin.cookie, ...h }), 'write'));
    await expect(change({})).resolves.toBe('csrf_refused');
    await expect(change({ 'x-csrf-token': other.csrf })).resolves.toBe('csrf_refused');
    await expect(change({ 'x-csrf-token': admin.csrf, origin: 'https://evil.example' })).resolves.toBe('csrf_refused');
    await expect(change({ 'x-csrf-token': admin.csrf, 'sec-fetch-site': 'cross-site' })).resolves.toBe('csrf_refused');
    await expect(change({ 'x-csrf-token': admin.csrf, origin: 'https://scanrelay.contoso.example' })).resolves.toBe('allowed');
    await expect(change({ 'x-csrf-token': admin.csrf })).resolves.toBe('allowed');
    // A write asked for with a GET (a link) is never taken from the cookie.
    await expect(code(authorizeRequest(deps, request('GET', { cookie: admin.cookie }), 'write'))).resolves.toBe('csrf_refused');
  });

  it('says when the session has ended', async () => {
    const { cookie } = await sessionOf([ADMIN_ROLE]);
    now += 31 * MIN;
    await expect(code(authorizeRequest(deps, request('GET', { cookie }), 'read'))).resolves.toBe('session_expired');
    now -= 31 * MIN;
  });
});

describe('safeReturnTo', () => {
  it.each([
    ['/api/console/jobs?status=failed', '/api/console/jobs?status=failed'],
    ['/api/console', '/api/console'],
    ['https://evil.example/api/console', '/api/console'],
    ['//evil.example', '/api/console'],
    ['/api/console//evil.example', '/api/console'],
    ['/api/consolex', '/api/console'],
    ['/api/console/%2f%2fevil', '/api/console'],
    ['/api/console\\evil', '/api/console'],
    ['/api/scan', '/api/console'],
    [null, '/api/console'],
  ])('%j → %j', (value, expected) => expect(safeReturnTo(value)).toBe(expected));
});
