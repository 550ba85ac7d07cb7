/**
 * Destinations in the console, in a real Chromium: choose a type, create one with a mistake (the
 * problem shown next to its option's control, nothing saved) and then correctly, edit one with
 * problems shown the same way, disable and enable it, send a test,
 * restore an old version, and test routing (the rendered templates shown, nothing sent); a
 * stale edit is refused with a clear message; browse a SharePoint site as an authorized connection
 * (through the test identity platform) down to a folder and create a destination there. axe-core checks each page; the screenshots go to
 * docs/screenshots/.
 */
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createDevelopmentSignIn } from '../../shared/access';
import { listDestinations } from '../../shared/destinations';
import { silentLogger } from '../../shared/log';
import { CONNECTION_TYPES, newKeyRingSecret } from '../../shared/oauth';
import { launchBrowser, screenshot, seriousViolations, signedInPage } from '../helpers/browser';
import { startGraphServer, type GraphServer } from '../helpers/graphServer';
import { startOidcServer, type OidcServer } from '../helpers/oidcServer';
import { startReceiver, type Receiver } from '../helpers/receiver';
import { startScanHost, type ScanHost } from '../helpers/scanStack';

const CLIENT_ID = '3d4e5f60-7a8b-4c9d-8e0f-1a2b3c4d5e6f';
let idp: OidcServer;
let graph: GraphServer;
let host: ScanHost;
let receiver: Receiver;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let share: string;
let console_: string;
const problems: string[] = [];

beforeAll(async () => {
  receiver = await startReceiver();
  const dir = mkdtempSync(join(tmpdir(), 'scanrelay-consoledest-'));
  share = join(dir, 'share');
  mkdirSync(share);
  const file = join(dir, 'destinations.json');
  writeFileSync(
    file,
    JSON.stringify({
      version: 1,
      destinations: [
        {
          id: 'fax',
          type: 'httpForward',
          description: 'The fax gateway',
          when: { custom_RoutingKey: 'fax' },
          options: { url: receiver.url, allowHttp: true, allowPrivateNetworks: true },
        },
      ],
    }),
  );
  idp = await startOidcServer({ clients: [{ clientId: CLIENT_ID, clientSecret: 's3cret', redirectUris: [] }] });
  graph = await startGraphServer();
  graph.addSite('contoso.sharepoint.com', 'sites/Scans', { Documents: 'drv-docs', Invoices: 'drv-invoices' }, 'Scans');
  graph.putFile('drv-invoices', '2026/December/a.pdf', 'x');
  host = await startScanHost((url) => ({
    CONSOLE_SIGN_IN: 'development',
    PUBLIC_BASE_URL: url,
    DESTINATIONS_FILE: file,
    OAUTH_AUTHORITY_HOST: idp.baseUrl,
    OAUTH_CLIENT_ID: CLIENT_ID,
    GRAPH_BASE_URL: graph.baseUrl,
  }));
  idp.clients[0]!.redirectUris.push(...CONNECTION_TYPES.map((t) => `${host.server.url}/api/oauth2/client/${t}/authorize-callback`));
  console_ = `${host.server.url}/api/console`;
  writeFileSync(host.secretsFile, JSON.stringify({ 'oauth-client-secret': 's3cret', 'token-encryption-keys': newKeyRingSecret('k1') }));
  browser = await launchBrowser();
  ({ context, page } = await signedInPage(
    browser,
    await createDevelopmentSignIn(host.services.signInDeps(silentLogger), host.server.url),
    problems,
  ));
  page.on('dialog', (d) => void d.accept());
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await host?.stop();
  await receiver?.stop();
  await graph?.stop();
  await idp?.stop();
});
afterEach(() => expect(problems.splice(0)).toEqual([]));

const heading = () => page.locator('h1').textContent();
const stored = () => listDestinations(host.services.destinations, { kind: 'key' });

/** An option's control, by its label (the option's key; exact, as `folder` is in `createFolders`). */
const option = (key: string) => page.getByLabel(key, { exact: true });

it('creates a destination after a mistake shown next to its field, nothing saved until it is right', async () => {
  await page.goto(`${console_}/destinations`);
  expect(await page.locator('table').textContent()).toContain('fax');
  // The type first (a GET, no script), then the form with that type's options.
  await page.getByLabel('Type').selectOption('fileShare');
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL(/\/destinations\?type=fileShare/);
  expect(await page.getByRole('group', { name: 'Options of fileShare' }).isVisible()).toBe(true);
  expect(await page.getByRole('link', { name: 'Change type' }).count()).toBe(1);
  await page.getByLabel('Id', { exact: true }).fill('archive');
  await page.getByLabel('Description (optional)').fill('Invoices to the archive share');
  await page.getByLabel('Routing rule (JSON)').fill('{"workflowName": "Invoices"}');
  await option('basePath').fill('archive/%username%'); // not absolute
  await option('createFolders').selectOption({ label: 'Yes' });
  await page.getByRole('button', { name: 'Create' }).click();

  expect(await page.getByRole('alert').textContent()).toContain('Nothing was saved');
  const basePath = option('basePath');
  expect(await basePath.getAttribute('aria-invalid')).toBe('true');
  expect(await page.locator('#f-opt-basePath-error').textContent()).toMatch(/must be an absolute path/);
  expect(await option('fileName').getAttribute('aria-invalid')).toBeNull();
  expect(await page.getByLabel('Description (optional)').inputValue()).toBe('Invoices to the archive share'); // kept
  expect(await basePath.inputValue()).toBe('archive/%username%'); // kept
  expect(await option('createFolders').inputValue()).toBe('true'); // kept
  expect((await stored()).destinations.map((d) => d.id)).toEqual(['fax']);
  expect(await seriousViolations(page)).toEqual([]);

  await basePath.fill(`${share}/%username%`);
  await option('fileName').fill('%workflowName% %fileIndex%');
  await page.getByRole('button', { name: 'Create' }).click();
  await page.waitForURL(/\/api\/console\/destinations\/archive$/);
  expect(await heading()).toBe('Destination archive');
  expect(await page.getByRole('status').first().textContent()).toContain("Destination 'archive' created.");
  expect(await page.locator('dl.facts').textContent()).toContain('workflowName = Invoices');
  // Empty controls left their options out; the flag chosen is stored as a flag.
  expect((await stored()).destinations.find((d) => d.id === 'archive')?.options).toEqual({
    basePath: `${share}/%username%`,
    fileName: '%workflowName% %fileIndex%',
    createFolders: true,
  });
  await screenshot(page, 'destination');
  expect(await seriousViolations(page)).toEqual([]);

  await page.goto(`${console_}/destinations`);
  expect(await page.locator('table').textContent()).toContain('Invoices to the archive share');
  await screenshot(page, 'destinations');
  expect(await seriousViolations(page)).toEqual([]);
});

it('disables and enables a destination, and sends it a test', async () => {
  await page.goto(`${console_}/destinations/fax`);
  await page.getByRole('button', { name: 'Disable' }).click();
  await page.waitForURL(/destinations\/fax$/);
  expect(await page.locator('.notice.ok').textContent()).toContain("Destination 'fax' disabled");
  expect(await page.locator('dl.facts').textContent()).toContain('Disabled');
  await page.getByRole('button', { name: 'Enable' }).click();
  await page.waitForURL(/destinations\/fax$/);
  expect(await page.locator('dl.facts').textContent()).toContain('Enabled');

  const count = receiver.received.length;
  await page.getByRole('button', { name: 'Send a test' }).click();
  await page.waitForURL(/destinations\/fax$/);
  expect(await page.locator('.notice.ok').textContent()).toContain("Test delivered to 'fax'");
  expect(receiver.received).toHaveLength(count + 1);
});

it('shows each problem of an edit next to its option: a number typed as text, an http:// URL that must be https://', async () => {
  await page.goto(`${console_}/destinations/fax`);
  expect(await page.locator('#edit ~ form').textContent()).toContain('To change the type, create a new destination.');
  expect(await option('url').inputValue()).toBe(receiver.url);
  expect(await option('allowHttp').inputValue()).toBe('true');
  await option('timeoutSeconds').fill('soon');
  await option('extraFields (JSON)').fill('{"fax to": "%faxNumber%"}');
  await page.getByRole('button', { name: 'Save' }).click();
  expect(await page.getByRole('alert').textContent()).toContain('Nothing was saved');
  expect(await option('timeoutSeconds').getAttribute('aria-invalid')).toBe('true');
  expect(await page.locator('#f-opt-timeoutSeconds-error').textContent()).toContain('must be a whole number from 1 to 600');
  expect(await option('timeoutSeconds').inputValue()).toBe('soon'); // kept as typed
  expect(await option('extraFields (JSON)').getAttribute('aria-invalid')).toBeNull();
  expect(await seriousViolations(page)).toEqual([]);

  await option('timeoutSeconds').fill('30');
  await option('allowHttp').selectOption({ label: 'Default (No)' }); // the receiver's http:// URL is then refused
  await page.getByRole('button', { name: 'Save' }).click();
  expect(await option('url').getAttribute('aria-invalid')).toBe('true');
  expect(await page.locator('#f-opt-url-error').textContent()).toContain('must be https://');
  expect(await option('timeoutSeconds').getAttribute('aria-invalid')).toBeNull();
  expect(await seriousViolations(page)).toEqual([]);
  expect((await stored()).destinations.find((d) => d.id === 'fax')?.options).toEqual({
    url: receiver.url,
    allowHttp: true,
    allowPrivateNetworks: true,
  });

  await option('allowHttp').selectOption({ label: 'Yes' });
  await page.getByRole('button', { name: 'Save' }).click();
  await page.waitForURL(/destinations\/fax$/);
  expect((await stored()).destinations.find((d) => d.id === 'fax')?.options).toEqual({
    url: receiver.url,
    allowHttp: true,
    allowPrivateNetworks: true,
    timeoutSeconds: 30,
    extraFields: { 'fax to': '%faxNumber%' },
  });
});

it('refuses an edit of a destination changed since the page was read, saying so', async () => {
  await page.goto(`${console_}/destinations/fax`);
  // Someone else changes it meanwhile (another administrator, through the API).
  const other = await context.newPage();
  await other.goto(`${console_}/destinations/fax`);
  await other.getByLabel('Description (optional)').fill('Changed elsewhere');
  await other.getByRole('button', { name: 'Save' }).click();
  await other.waitForURL(/destinations\/fax$/);
  await other.close();

  await page.getByLabel('Description (optional)').fill('My change');
  await page.getByRole('button', { name: 'Save' }).click();
  expect(await page.getByRole('alert').textContent()).toMatch(/was changed since you read it.*Read it again/);
  expect((await stored()).destinations.find((d) => d.id === 'fax')?.description).toBe('Changed elsewhere');
});

it('restores an old version from the versions page', async () => {
  await page.goto(`${console_}/destinations/versions`);
  expect(await page.locator('table').textContent()).toContain("Created 'archive'");
  await page.getByRole('button', { name: 'Restore 1' }).click();
  await page.waitForURL(/destinations\/versions$/);
  expect(await page.locator('.notice.ok').textContent()).toMatch(/Version 1 restored as version \d+/);
  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, 'destination-versions');
  const now = await stored();
  expect(now.destinations.map((d) => [d.id, d.description])).toEqual([['fax', 'The fax gateway']]);
});

it('tests routing: the destinations a job goes to and every rendered template, sending nothing', async () => {
  await page.goto(`${console_}/destinations?type=fileShare`);
  await page.getByLabel('Id', { exact: true }).fill('archive');
  await page.getByLabel('Routing rule (JSON)').fill('{"workflowName": "Invoices"}');
  await option('basePath').fill(`${share}/%username%`);
  await option('fileName').fill('%workflowName% %fileIndex%');
  await page.getByRole('button', { name: 'Create' }).click();
  await page.waitForURL(/destinations\/archive$/);

  const count = receiver.requests;
  await page.goto(`${console_}/destinations/routing-test`);
  await page.getByLabel('Job fields, one name=value a line').fill('workflowName=Invoices\nusername=jdoe');
  await page.getByLabel('File names, one a line').fill('invoice.pdf');
  await page.getByRole('button', { name: 'Test routing' }).click();
  await page.waitForURL(/routing-test\?/);
  expect(await page.getByRole('status').first().textContent()).toContain('Selected: archive.');
  const rendered = await page.getByRole('region', { name: 'Rendered templates' }).textContent();
  expect(rendered).toContain(`${share}/jdoe`);
  expect(rendered).toContain('Invoices 1');
  expect(await page.getByRole('region', { name: 'Destinations and their rules' }).textContent()).toContain('Not selected');
  await screenshot(page, 'routing-test');
  expect(await seriousViolations(page)).toEqual([]);
  expect(readdirSync(share)).toEqual([]);
  expect(receiver.requests).toBe(count);
});

it('browses a SharePoint site as an authorized connection down to a folder, and creates a destination there', async () => {
  await page.goto(`${console_}/connections`);
  await page.getByLabel('Type').selectOption('sharePoint');
  await page.getByLabel('Display name').fill('Scans site');
  await page.getByLabel('Id (optional)').fill('scans-site');
  await page.getByRole('button', { name: 'Create' }).click();
  await page.waitForURL(/connections\/scans-site$/);
  await page.getByRole('button', { name: 'Authorize' }).click();
  await page.waitForURL(/connections\/scans-site$/);
  expect(await page.locator('.notice.ok').textContent()).toContain('Authorized');

  await page.goto(`${console_}/destinations`);
  await page.getByRole('link', { name: 'Browse SharePoint or OneDrive' }).click();
  await page.getByLabel('Where').selectOption('sharePoint');
  await page.getByLabel('Connection').selectOption('scans-site');
  await page.getByLabel('SharePoint site (URL)').fill('https://contoso.sharepoint.com/sites/Scans');
  await page.getByRole('button', { name: 'Browse' }).click();
  await page.getByRole('link', { name: 'Invoices' }).click();
  await page.getByRole('link', { name: '2026' }).click();
  expect(await page.locator('h2').first().textContent()).toBe('Invoices / 2026');
  expect(await page.getByRole('listitem').filter({ hasText: 'December' }).count()).toBe(1);
  await screenshot(page, 'browse');
  expect(await seriousViolations(page)).toEqual([]);

  await page.getByRole('link', { name: 'Use this folder' }).click();
  await page.waitForURL(/\/destinations\?/);
  expect(await page.getByRole('group', { name: 'Options of sharePoint' }).isVisible()).toBe(true);
  expect(await option('connectionId').inputValue()).toBe('scans-site');
  expect(await option('site').inputValue()).toBe('https://contoso.sharepoint.com/sites/Scans');
  expect(await option('library').inputValue()).toBe('Invoices');
  expect(await option('folder').inputValue()).toBe('2026');
  expect(await option('fileName').inputValue()).toBe('');
  await page.getByLabel('Id', { exact: true }).fill('invoices-2026');
  await page.getByLabel('Routing rule (JSON)').fill('{"workflowName": "Invoices"}');
  await page.getByRole('button', { name: 'Create' }).click();
  await page.waitForURL(/destinations\/invoices-2026$/);
  expect((await stored()).destinations.find((d) => d.id === 'invoices-2026')?.options).toMatchObject({
    library: 'Invoices',
    folder: '2026',
  });
});
