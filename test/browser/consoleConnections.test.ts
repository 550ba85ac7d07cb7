/**
 * Connections in the console, in a real Chromium: create one with the keyboard only (a mistake
 * first), authorize it through the test identity platform from the console and come back to the
 * outcome, refresh it, and delete it. axe-core checks each page; the pages' screenshots go to
 * docs/screenshots/.
 */
import { writeFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { createDevelopmentSignIn } from '../../shared/access';
import { CONNECTION_TYPES, newKeyRingSecret } from '../../shared/oauth';
import { silentLogger } from '../../shared/log';
import { launchBrowser, screenshot, seriousViolations, signedInPage } from '../helpers/browser';
import { DEFAULT_USER, startOidcServer, type OidcServer } from '../helpers/oidcServer';
import { startScanHost, type ScanHost } from '../helpers/scanStack';

const CLIENT_ID = '0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f';

let idp: OidcServer;
let host: ScanHost;
let browser: Browser;
let page: Page;
const problems: string[] = [];

beforeAll(async () => {
  idp = await startOidcServer({ clients: [{ clientId: CLIENT_ID, clientSecret: 's3cret', redirectUris: [] }] });
  host = await startScanHost((url) => ({
    CONSOLE_SIGN_IN: 'development',
    OAUTH_AUTHORITY_HOST: idp.baseUrl,
    OAUTH_CLIENT_ID: CLIENT_ID,
    PUBLIC_BASE_URL: url,
  }));
  idp.clients[0]!.redirectUris.push(...CONNECTION_TYPES.map((t) => `${host.server.url}/api/oauth2/client/${t}/authorize-callback`));
  writeFileSync(host.secretsFile, JSON.stringify({ 'oauth-client-secret': 's3cret', 'token-encryption-keys': newKeyRingSecret('k1') }));
  browser = await launchBrowser();
  ({ page } = await signedInPage(
    browser,
    await createDevelopmentSignIn(host.services.signInDeps(silentLogger), host.server.url),
    problems,
  ));
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await host?.stop();
  await idp?.stop();
});
afterEach(() => expect(problems.splice(0)).toEqual([]));

const heading = () => page.locator('h1').textContent();

it('creates a connection with the keyboard only, after a mistake the page explains', async () => {
  await page.goto(`${host.server.url}/api/console/connections`);
  await page.keyboard.press('Tab');
  expect(
    await page.evaluate(
      () => (globalThis as unknown as { document: { activeElement: { textContent: string } } }).document.activeElement.textContent,
    ),
  ).toBe('Skip to content');
  await page.getByLabel('Type').focus();
  await page.keyboard.press('ArrowDown'); // exchangeMicrosoft
  await page.keyboard.press('ArrowUp'); // back to smtpMicrosoft
  await page.getByLabel('Display name').focus();
  await page.keyboard.type('Scans mailbox');
  await page.getByLabel('Id (optional)').focus();
  await page.keyboard.type('Scans Mailbox!'); // not an id
  await page.keyboard.press('Enter');
  expect(await page.getByRole('alert').textContent()).toContain('"id" must be 1 to 63 lowercase letters, digits and dashes');
  expect(await page.getByLabel('Display name').inputValue()).toBe('Scans mailbox'); // what was typed is kept
  await page.getByLabel('Id (optional)').fill('scans-mailbox');
  await page.getByLabel('Id (optional)').press('Enter');
  await page.waitForURL(/\/api\/console\/connections\/scans-mailbox$/);
  expect(await heading()).toBe('Scans mailbox');
  expect(await page.getByRole('status').first().textContent()).toContain('created');
  expect(await page.locator('#redirect-uri').textContent()).toBe(`${host.server.url}/api/oauth2/client/smtpMicrosoft/authorize-callback`);
  expect(await seriousViolations(page)).toEqual([]);
});

it('authorizes it through the identity platform and comes back with the outcome', async () => {
  await page.goto(`${host.server.url}/api/console/connections/scans-mailbox`);
  await page.getByRole('button', { name: 'Authorize' }).click();
  await page.waitForURL(/\/api\/console\/connections\/scans-mailbox$/);
  expect(idp.authorizeRequests.at(-1)?.signedIn).toBe(DEFAULT_USER.upn);
  expect(await page.locator('.notice.ok').textContent()).toContain(`Authorized as ${DEFAULT_USER.upn}`);
  expect(await page.locator('dl.facts').textContent()).toContain('Authorized');
  expect(await page.getByRole('button', { name: 'Authorize again' }).count()).toBe(1);
  await screenshot(page, 'connection');
  expect(await seriousViolations(page)).toEqual([]);

  await page.getByRole('button', { name: 'Refresh now' }).click();
  await page.waitForURL(/scans-mailbox$/);
  expect(await page.locator('.notice.ok').textContent()).toContain('Refreshed');

  await page.goto(`${host.server.url}/api/console/connections`);
  expect(await page.locator('table').textContent()).toContain(DEFAULT_USER.upn);
  await screenshot(page, 'connections');
  expect(await seriousViolations(page)).toEqual([]);
});

it('shows a refused consent on the connection page, keeping nothing', async () => {
  idp.denyConsent = true;
  try {
    await page.goto(`${host.server.url}/api/console/connections/scans-mailbox`);
    await page.getByRole('button', { name: 'Authorize again' }).click();
    await page.waitForURL(/scans-mailbox$/);
    expect(await page.locator('.notice.bad').first().textContent()).toContain('Consent was not given');
  } finally {
    idp.denyConsent = false;
  }
});

it('deletes it after asking', async () => {
  await page.goto(`${host.server.url}/api/console/connections/scans-mailbox`);
  page.once('dialog', (d) => void d.accept());
  await page.getByRole('button', { name: 'Delete' }).click();
  await page.waitForURL(/\/connections$/);
  expect(await page.locator('.notice.ok').textContent()).toContain("'scans-mailbox' and its tokens were deleted");
  await expect(host.services.storage.connections.get('scans-mailbox')).resolves.toBeUndefined();
  const audit = await host.services.storage.auditLog.list(new Date(Date.now() - 3_600_000), new Date());
  expect(audit.map((e) => e.action)).toEqual(
    expect.arrayContaining(['connection.delete', 'connection.authorize', 'connection.create', 'connection.refresh']),
  );
  expect(audit.find((e) => e.action === 'connection.create')?.actor).toMatchObject({ kind: 'user', upn: 'developer@localhost' });
});

it('shows those changes in the Audit log, who and what, searchable', async () => {
  await page.goto(`${host.server.url}/api/console/audit`);
  expect(await heading()).toBe('Audit log');
  const rows = page.locator('table tbody tr');
  expect(await rows.count()).toBeGreaterThanOrEqual(4);
  await page.getByLabel('Search').fill('connection.delete');
  await page.getByRole('button', { name: 'Show' }).click();
  await page.waitForURL(/q=connection\.delete/);
  expect(await rows.count()).toBe(1);
  expect(await rows.first().textContent()).toContain('developer@localhost');
  expect(await rows.first().textContent()).toContain('scans-mailbox');
  expect(await seriousViolations(page)).toEqual([]);
  await page.getByLabel('Search').fill('');
  await page.getByRole('button', { name: 'Show' }).click();
  await page.waitForURL(/q=&/);
  await screenshot(page, 'audit');
});
