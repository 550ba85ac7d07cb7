/**
 * Signing in to the console with Microsoft Entra ID, in a real Chromium, through the test identity
 * platform (the browser follows the real redirects: console → authorize endpoint → callback): the
 * app roles decide. ScanRelay.Admin: in, named, may change things. ScanRelay.Reader: every page,
 * no change form, and a change forced past the page is refused. No role: the 403 page naming the
 * role to assign and where. Sign-out. axe-core on every page; screenshots signin and forbidden.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ADMIN_ROLE, READER_ROLE, SESSION_COOKIE } from '../../shared/access';
import { collectPageErrors, launchBrowser, newContext, screenshot, seriousViolations } from '../helpers/browser';
import { DEFAULT_USER, type OidcServer, type OidcUser } from '../helpers/oidcServer';
import { startEntraConsoleHost } from '../helpers/consoleHost';
import type { ScanHost } from '../helpers/scanStack';

const CLIENT_ID = '7d2e3f40-5b6c-4d7e-8f90-a1b2c3d4e5f6';
const TENANT = DEFAULT_USER.tid;

const ADMIN: OidcUser = { ...DEFAULT_USER, appRoles: { [CLIENT_ID]: [ADMIN_ROLE] } };
const READER: OidcUser = {
  oid: '00000000-0000-0000-0000-0000000000b2',
  tid: TENANT,
  upn: 'bob@contoso.example',
  name: 'Bob Reader',
  appRoles: { [CLIENT_ID]: [READER_ROLE] },
};
const NOBODY: OidcUser = { oid: '00000000-0000-0000-0000-0000000000c3', tid: TENANT, upn: 'carol@contoso.example', name: 'Carol Norole' };

let idp: OidcServer;
let host: ScanHost;
let base: string;
let browser: Browser;
const contexts: BrowserContext[] = [];
const problems: string[] = [];

beforeAll(async () => {
  ({ idp, host } = await startEntraConsoleHost({
    clientId: CLIENT_ID,
    tenant: TENANT,
    adminKey: 'r'.repeat(40),
    settings: { CONSOLE_SIGN_IN: 'entra' },
  }));
  base = host.server.url;
  browser = await launchBrowser();
}, 120_000);
afterAll(async () => {
  for (const c of contexts) await c.close();
  await browser?.close();
  await host?.stop();
  await idp?.stop();
});
afterEach(() => expect(problems.splice(0)).toEqual([]));

/** A fresh browser profile whose page reports script errors and CSP violations. */
async function freshPage(): Promise<Page> {
  const context = await newContext(browser);
  contexts.push(context);
  const page = await context.newPage();
  collectPageErrors(page, problems);
  return page;
}

/** Opens `path` in the console as `user` would: sent to sign in, signs in with Microsoft, back. */
async function signIn(page: Page, user: OidcUser, path = '/api/console'): Promise<void> {
  idp.setUser(user);
  await page.goto(`${base}${path}`);
  expect(await page.locator('h1').textContent()).toBe('Sign in');
  const before = idp.authorizeRequests.length;
  await page.getByRole('link', { name: 'Sign in with Microsoft' }).click();
  await page.waitForURL((url) => url.origin === base && url.pathname === path);
  expect(idp.authorizeRequests.length).toBe(before + 1);
  expect(idp.authorizeRequests.at(-1)?.signedIn).toBe(user.upn);
}

const heading = (page: Page) => page.locator('h1').textContent();
const csrfOf = (page: Page) => page.locator('form[action="/api/console/signout"] input[name="_csrf"]').inputValue();

it('shows the sign-in page, and lets an administrator in, named, with the change forms', async () => {
  const page = await freshPage();
  await page.goto(`${base}/api/console/connections`);
  expect(page.url()).toBe(`${base}/api/console/signin?returnTo=${encodeURIComponent('/api/console/connections')}`);
  expect(await page.locator('main').textContent()).toContain(`You need the app role ${ADMIN_ROLE}`);
  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, 'signin');

  await signIn(page, ADMIN);
  expect(await heading(page)).toBe('Overview');
  expect(await page.locator('.who').textContent()).toContain(`Alice Example (alice@contoso.example)`);
  expect(await page.locator('.who').textContent()).toContain(ADMIN_ROLE);
  const cookie = (await page.context().cookies()).find((c) => c.name === SESSION_COOKIE)!;
  expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Lax', path: '/' });
  expect(await seriousViolations(page)).toEqual([]);

  await page.getByRole('link', { name: 'Connections' }).click();
  expect(await heading(page)).toBe('Connections');
  expect(await page.getByRole('heading', { name: 'Create a connection' }).count()).toBe(1);
  expect(await seriousViolations(page)).toEqual([]);
});

it('shows a reader every page without a change form, and refuses a change forced past the page', async () => {
  const page = await freshPage();
  await signIn(page, READER, '/api/console/connections');
  expect(await heading(page)).toBe('Connections');
  expect(await page.locator('.who').textContent()).toContain(`Bob Reader (bob@contoso.example)`);
  expect(await page.getByRole('heading', { name: 'Create a connection' }).count()).toBe(0);
  expect(await page.locator('main form').count()).toBe(0);
  expect(await seriousViolations(page)).toEqual([]);

  await page.getByRole('link', { name: 'Overview' }).click();
  expect(await heading(page)).toBe('Overview');
  expect(await seriousViolations(page)).toEqual([]);
  await page.getByRole('link', { name: 'Audit log' }).click();
  expect(await heading(page)).toBe('Audit log');
  expect(await seriousViolations(page)).toEqual([]);

  // The create form, posted anyway from the console's own page with the session's CSRF token:
  // refused for the role, not for the token.
  const csrf = await csrfOf(page);
  const [answer] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${base}/api/console/connections` && r.request().method() === 'POST'),
    page.evaluate(
      ({ csrf }) => {
        const doc = (globalThis as unknown as { document: any }).document;
        const form = doc.createElement('form');
        form.method = 'post';
        form.action = '/api/console/connections';
        for (const [name, value] of Object.entries({ _csrf: csrf, type: 'smtpMicrosoft', displayName: 'Sneaky', id: 'sneaky' })) {
          const input = doc.createElement('input');
          input.type = 'hidden';
          input.name = name;
          input.value = value;
          form.appendChild(input);
        }
        doc.body.appendChild(form);
        form.submit();
      },
      { csrf },
    ),
  ]);
  expect(answer.status()).toBe(403);
  await page.waitForLoadState();
  expect(await heading(page)).toBe('Not allowed');
  expect((await page.getByRole('alert').textContent())!.replace(/\s+/g, ' ')).toContain(
    `signed in as bob@contoso.example, with the role ${READER_ROLE}. This needs the app role ${ADMIN_ROLE}.`,
  );
  expect(await seriousViolations(page)).toEqual([]);

  // The JSON admin API with the same session: reads, and refuses the change (403 forbidden).
  const list = await page.request.get(`${base}/api/connections`);
  expect(list.status()).toBe(200);
  const create = await page.request.post(`${base}/api/connections`, {
    headers: { 'x-csrf-token': csrf, origin: base },
    data: { id: 'sneaky', type: 'smtpMicrosoft', displayName: 'Sneaky' },
  });
  expect(create.status()).toBe(403);
  expect(await create.json()).toMatchObject({
    error: 'forbidden',
    message: `bob@contoso.example needs the app role ${ADMIN_ROLE} for this.`,
  });
  await expect(host.services.storage.connections.get('sneaky')).resolves.toBeUndefined();
});

it('shows a user without a role the 403 page naming the role to assign and how, then signs out', async () => {
  const page = await freshPage();
  const response = page.waitForResponse((r) => r.url() === `${base}/api/console` && r.request().method() === 'GET' && r.status() === 403);
  await signIn(page, NOBODY);
  expect((await response).status()).toBe(403);
  expect(await heading(page)).toBe('No access to ScanRelay');
  const main = (await page.locator('main').textContent())!.replace(/\s+/g, ' ');
  expect(main).toContain('You are signed in as carol@contoso.example, without a role on ScanRelay');
  expect(main).toContain(`This needs the app role ${READER_ROLE}`);
  expect(main).toContain("Enterprise applications → ScanRelay's app → Users and groups");
  expect(main).toContain(`Add user/group: choose carol@contoso.example (or a group), and the role ${READER_ROLE}`);
  // No navigation to pages that would all answer this one: only Sign out.
  expect(await page.getByRole('navigation', { name: 'Console' }).count()).toBe(0);
  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, 'forbidden');

  // The role assigned, a new sign-in brings it.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${base}/api/console/signin?signedOut=1`);
  expect(await page.getByRole('status').textContent()).toContain('You are signed out.');
  expect((await page.context().cookies()).some((c) => c.name === SESSION_COOKIE)).toBe(false);
  expect(await seriousViolations(page)).toEqual([]);
  idp.assignAppRoles(CLIENT_ID, NOBODY.upn, [READER_ROLE]);
  await signIn(page, { ...NOBODY, appRoles: { [CLIENT_ID]: [READER_ROLE] } });
  expect(await heading(page)).toBe('Overview');
  expect(await page.locator('.who').textContent()).toContain(READER_ROLE);
});

it('signs out: the session ends, and the console asks to sign in again', async () => {
  const page = await freshPage();
  await signIn(page, ADMIN);
  expect(await heading(page)).toBe('Overview');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${base}/api/console/signin?signedOut=1`);
  expect(await heading(page)).toBe('Sign in');
  expect(await seriousViolations(page)).toEqual([]);
  await page.goto(`${base}/api/console/audit`);
  expect(page.url()).toBe(`${base}/api/console/signin?returnTo=${encodeURIComponent('/api/console/audit')}`);
  expect((await page.request.get(`${base}/api/connections`)).status()).toBe(401);
});
