/**
 * Signing in to the console with Entra ID (the test identity platform, real MSAL, real HTTP):
 * PKCE and nonce, the state bound to the browser that started it, one tenant only, replays and
 * forgeries refused, sign-out; the development sign-in link is single-use and off when Entra is on.
 */
import { createDevelopmentSignIn, SESSION_COOKIE } from '../../shared/access';
import { silentLogger } from '../../shared/log';
import { CookieJar, hiddenField } from '../helpers/cookieJar';
import { DEFAULT_USER, type OidcServer } from '../helpers/oidcServer';
import { startEntraConsoleHost } from '../helpers/consoleHost';
import type { ScanHost } from '../helpers/scanStack';

const CLIENT_ID = '6a1d2c3b-4e5f-4a7b-8c9d-0e1f2a3b4c5d';
const TENANT = DEFAULT_USER.tid;

let idp: OidcServer;
let host: ScanHost;
let base: string;

beforeAll(async () => {
  ({ idp, host } = await startEntraConsoleHost({ clientId: CLIENT_ID, tenant: TENANT, adminKey: 'a'.repeat(40) }));
  base = host.server.url;
});
afterAll(async () => {
  await host?.stop();
  await idp?.stop();
});
beforeEach(() => {
  idp.setUser({ ...DEFAULT_USER, home: undefined });
  idp.forgeNonce = null;
});

/** Starts a sign-in in `jar`'s browser and signs in at the identity platform: the callback URL it sends back. */
async function signInAtIdp(jar: CookieJar, returnTo = '/api/console'): Promise<string> {
  const start = await jar.request(`${base}/api/console/signin/start?returnTo=${encodeURIComponent(returnTo)}`);
  expect(start.status).toBe(302);
  const authorize = new URL(start.headers.location as string);
  expect(authorize.origin + authorize.pathname).toBe(`${idp.baseUrl}/${TENANT}/oauth2/v2.0/authorize`);
  expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
  expect(authorize.searchParams.get('nonce')).toBeTruthy();
  expect(authorize.searchParams.get('redirect_uri')).toBe(`${base}/api/console/signin-callback`);
  const back = await fetch(authorize, { redirect: 'manual' });
  expect(back.status).toBe(302);
  return back.headers.get('location')!;
}

describe('console sign-in with Entra ID', () => {
  it('sends a visitor to the sign-in page, keeping where it was going', async () => {
    const jar = new CookieJar();
    const res = await jar.request(`${base}/api/console/jobs?status=failed`);
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`/api/console/signin?returnTo=${encodeURIComponent('/api/console/jobs?status=failed')}`);
    const page = await jar.request(`${base}${res.headers.location as string}`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('Sign in with Microsoft');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
  });

  it('signs in, comes back to the page asked for, and without a role shows which role to assign', async () => {
    const jar = new CookieJar();
    const callback = await signInAtIdp(jar, '/api/console/audit');
    const done = await jar.request(callback);
    expect(done.status).toBe(303);
    expect(done.headers.location).toBe('/api/console/audit');
    const cookie = (done.headers['set-cookie'] as string[]).find((c) => c.startsWith(`${SESSION_COOKIE}=`))!;
    expect(cookie).toMatch(/; Path=\/; HttpOnly; Secure; SameSite=Lax/);
    expect(cookie).not.toContain('Max-Age'); // ends with the browser, or earlier on the server
    const page = await jar.request(`${base}/api/console/audit`);
    expect(page.status).toBe(403);
    expect(page.text).toContain('alice@contoso.example');
    expect(page.text).toContain('ScanRelay.Reader');
    expect(page.text).toContain('Users and groups');
  });

  it('refuses the response in a browser that did not start the sign-in (no login CSRF)', async () => {
    const attacker = new CookieJar();
    const callback = await signInAtIdp(attacker);
    const victim = new CookieJar();
    const res = await victim.request(callback);
    expect(res.status).toBe(400);
    expect(res.text).toContain('started in another browser');
    expect(victim.get(SESSION_COOKIE)).toBeUndefined();
  });

  it('uses a state once, and refuses a forged one', async () => {
    const jar = new CookieJar();
    const callback = await signInAtIdp(jar);
    const binding = jar.get('__Host-scanrelay-signin')!;
    expect((await jar.request(callback)).status).toBe(303);
    jar.set('__Host-scanrelay-signin', binding);
    const replay = await jar.request(callback);
    expect(replay.status).toBe(400);
    expect(replay.text).toContain('already used');
    const forged = new URL(callback);
    forged.searchParams.set('state', 'forged-state');
    expect((await new CookieJar().request(forged.toString())).status).toBe(400);
  });

  it('refuses an ID token whose nonce belongs to another sign-in', async () => {
    idp.forgeNonce = 'someone-elses-nonce';
    const jar = new CookieJar();
    const res = await jar.request(await signInAtIdp(jar));
    expect(res.status).toBe(400);
    expect(res.text).toMatch(/nonce/);
    expect(jar.get(SESSION_COOKIE)).toBeUndefined();
  });

  it('refuses users of another tenant (a tenant can assign its own users the app roles)', async () => {
    idp.setUser({ oid: '00000000-0000-0000-0000-0000000000e1', tid: '99999999-0000-4000-8000-000000000009', upn: 'eve@fabrikam.example' });
    const jar = new CookieJar();
    const res = await jar.request(await signInAtIdp(jar));
    expect(res.status).toBe(403);
    expect(res.text).toContain(`Only accounts of the tenant ${TENANT}`);
    expect(jar.get(SESSION_COOKIE)).toBeUndefined();
  });

  it('never sends the browser elsewhere after signing in', async () => {
    const jar = new CookieJar();
    const res = await jar.request(await signInAtIdp(jar, 'https://evil.example/api/console'));
    expect(res.headers.location).toBe('/api/console');
  });

  it('signs out: the cookie is cleared and the next page asks to sign in', async () => {
    const jar = new CookieJar();
    await jar.request(await signInAtIdp(jar));
    const page = await jar.request(`${base}/api/console`);
    const csrf = hiddenField(page.text, '_csrf');
    const wrong = await jar.request(`${base}/api/console/signout`, { form: { _csrf: 'nope' }, headers: { origin: base } });
    expect(wrong.status).toBe(403);
    const out = await jar.request(`${base}/api/console/signout`, { form: { _csrf: csrf }, headers: { origin: base } });
    expect(out).toMatchObject({ status: 303, headers: { location: '/api/console/signin?signedOut=1' } });
    expect(jar.get(SESSION_COOKIE)).toBeUndefined();
    expect((await jar.request(`${base}/api/console`)).status).toBe(303);
  });

  it('has no development sign-in when Entra ID is set up', async () => {
    await expect(createDevelopmentSignIn(host.services.signInDeps(silentLogger), base)).rejects.toThrow(/CONSOLE_SIGN_IN/);
    const res = await new CookieJar().request(`${base}/api/console/dev-signin?token=x`);
    expect(res.status).toBe(400);
  });
});
